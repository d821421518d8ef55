// SPDX-License-Identifier: BSL-1.0
// The Group Policy template (admx/ipsec_retry.admx and admx/en-US/ipsec_retry.adml), generated
// from the library's own tables so that it cannot drift from what call_site_registry reads:
// one policy per built-in site (call_site_registry's sites), one for the budget and one for
// the breaker named "agent", and three lists for other names. Every policy writes REG_SZ values
// under SOFTWARE\Policies\ipsec_retry\{Sites,Budgets,Breakers} in HKLM (Computer
// Configuration) or HKCU (User Configuration); docs/windows.md, "Group Policy".
#pragma once

#include <string>

namespace ipsec_retry::admx {

/// The ADMX file's text (UTF-8, LF line ends).
std::string admx_text();
/// The en-US ADML file's text: every display string, explain text and presentation.
std::string adml_text();

}  // namespace ipsec_retry::admx
