// SPDX-License-Identifier: BSL-1.0
// Writes the Group Policy template: generate_admx DIR writes DIR/ipsec_retry.admx and
// DIR/en-US/ipsec_retry.adml (the `admx` build target runs it on the source tree's admx/).
#include "admx_template.hpp"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

namespace {

bool write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << text;
  file.close();
  if (!file) {
    std::cerr << "generate_admx: cannot write " << path.string() << '\n';
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: generate_admx DIR (writes DIR/ipsec_retry.admx and "
                 "DIR/en-US/ipsec_retry.adml)\n";
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  std::error_code ec;
  std::filesystem::create_directories(dir / "en-US", ec);
  if (ec) {
    std::cerr << "generate_admx: cannot create " << (dir / "en-US").string() << ": " << ec.message()
              << '\n';
    return 1;
  }
  const bool ok = write_file(dir / "ipsec_retry.admx", ipsec_retry::admx::admx_text()) &&
                  write_file(dir / "en-US" / "ipsec_retry.adml", ipsec_retry::admx::adml_text());
  return ok ? 0 : 1;
}
