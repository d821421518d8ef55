// SPDX-License-Identifier: BSL-1.0
// "Did you mean ...?": the candidate nearest to a word by edit distance. Internal.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <limits>
#include <string_view>

namespace ipsec_retry::detail {

/// Levenshtein distance (insertions, deletions, substitutions). Words of 64 characters or more
/// are compared only by length.
inline std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::array<std::size_t, 64> row{};
  if (b.size() >= row.size() || a.size() >= row.size()) return std::max(a.size(), b.size());
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0u : 1u)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

/// The candidate nearest to `word` (the first of equals); empty when there are none.
template <class Range>
std::string_view nearest_word(std::string_view word, const Range& candidates) {
  std::string_view best;
  std::size_t best_distance = std::numeric_limits<std::size_t>::max();
  for (const auto& candidate : candidates) {
    const std::size_t d = edit_distance(word, candidate);
    if (d < best_distance) {
      best = candidate;
      best_distance = d;
    }
  }
  return best;
}

}  // namespace ipsec_retry::detail
