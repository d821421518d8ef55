// SPDX-License-Identifier: BSL-1.0
// The call-site configuration's text, without the registry: reading lines, a site's text
// (policy + budget= + breaker=), and the errors they give. src/ipsec/call_sites.cpp applies
// what this parses to the registry. Internal.
#pragma once

#include <ipsec_retry/ipsec/call_sites.hpp>

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace ipsec_retry::ipsec::detail {

/// Site, budget and breaker names: letters, digits, '.', '_' and '-'.
bool valid_name(std::string_view name);

/// "none" in budget= or breaker=: nothing attached. Not a budget's or breaker's name.
inline constexpr std::string_view none_name = "none";

enum class line_kind { site, budget, breaker };

/// The keyword of a budget or breaker line ("budget", "breaker"); "" for a site.
std::string_view keyword(line_kind kind) noexcept;

/// One configuration line, checked for its shape and name.
struct config_line {
  std::size_t number = 0;  ///< from 1
  std::string source;      ///< "line N", or "FILE:N"
  line_kind kind = line_kind::site;
  std::string_view name;            ///< the site, budget or breaker named
  std::string label;                ///< "qm.delete", "budget agent": what errors name
  std::size_t name_column = 1;      ///< where the line's text starts
  std::string_view settings;        ///< what follows the ':'
  std::size_t settings_column = 1;  ///< the column of settings[0]
};

/// Reads a configuration text one line at a time: a UTF-8 BOM, '#' comments and blank lines
/// are skipped; each line must be `NAME: …`, `budget NAME: …` or `breaker NAME: …` with a
/// valid name, and none may appear twice.
class config_reader {
 public:
  /// Lines are named "line N", or "SOURCE_NAME:N" for a named text (a file's path).
  explicit config_reader(std::string_view text, std::string_view source_name = {});
  /// The next line; nullopt after the last; an error naming the line.
  std::optional<config_result<config_line>> next();

 private:
  std::string_view rest_;
  std::string source_name_;
  std::size_t number_ = 0;
  std::vector<std::pair<std::string, std::size_t>> seen_;  // label, line
};

/// What a site's text (a line's settings, or its environment variable) sets: its policy, and
/// the budget and breaker it names (registry keys, not policy keys).
struct site_update {
  retry_policy policy;
  std::optional<std::string> budget;   ///< "" for budget=none; nullopt when not given
  std::size_t budget_column = 0;       ///< where the budget's name is
  std::optional<std::string> breaker;  ///< as budget
  std::size_t breaker_column = 0;
};

/// Parses a site's text over `base`; columns count from `first_column` (that of text[0]).
policy_result<site_update> parse_site_text(std::string_view text, const retry_policy& base,
                                           std::size_t first_column = 1);

/// A settings text's error with its columns moved to a line where the text starts at
/// `first_column`.
policy_error in_line(policy_error e, std::size_t first_column);

/// An error of `source` (about `site`) whose problem is `problem`, at `column` (0: none).
config_error error(registry_errc code, const std::string& source, std::string_view site,
                   std::string problem, std::size_t column = 0);
/// An error of the text of a site, budget or breaker.
config_error text_error(registry_errc code, const std::string& source, std::string_view site,
                        policy_error e);
/// "unknown call site 'x' (did you mean 'y'? hosts add their own sites with define())".
config_error unknown_site(std::span<const std::string_view> names, std::string_view name,
                          const std::string& source, std::size_t column = 0);
/// An unknown budget (kind budget) or breaker named by `site`'s budget= (breaker=).
config_error unknown_guard(line_kind kind, std::span<const std::string_view> names,
                           std::string_view name, const std::string& source, std::string_view site,
                           std::size_t column);

}  // namespace ipsec_retry::ipsec::detail
