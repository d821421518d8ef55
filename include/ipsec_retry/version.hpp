// SPDX-License-Identifier: BSL-1.0
// ipsec_retry: the library's version. CMakeLists.txt reads it from here, so the CMake package
// version (find_package(ipsec_retry 0.2)) and pkg-config's always match these numbers.
//
//   #if IPSEC_RETRY_VERSION >= 200   // 0.2.0 or later
#pragma once

#define IPSEC_RETRY_VERSION_MAJOR 0
#define IPSEC_RETRY_VERSION_MINOR 2
#define IPSEC_RETRY_VERSION_PATCH 0
/// MAJOR * 10000 + MINOR * 100 + PATCH, for #if comparisons.
#define IPSEC_RETRY_VERSION                                               \
  (IPSEC_RETRY_VERSION_MAJOR * 10000 + IPSEC_RETRY_VERSION_MINOR * 100 + \
   IPSEC_RETRY_VERSION_PATCH)
