// `ipsec-retry explain CODE...`: name, message, HRESULT and retry verdict of Windows codes.
#include <ipsec_retry/classify.hpp>
#include <ipsec_retry/win32_error.hpp>

#include <ostream>
#include <string>

#include "commands.hpp"
#include "output.hpp"

namespace ipsec_retry::cli {
namespace {

struct explained {
  std::uint32_t value;  // normalized
  std::string name;     // empty when unknown
  std::string message;
  verdict by_default;
  verdict when_idempotent;
};

explained explain_one(std::uint32_t value) {
  const auto info = find_code(value);
  return {value, info ? std::string(info->name) : std::string(),
          make_error_code(win32_error{value}).message(),
          default_verdict(value, idempotency::non_idempotent),
          default_verdict(value, idempotency::idempotent)};
}

bool is_win32(std::uint32_t value) {
  return (value >> 31) == 0;
}

std::string hresult_text(std::uint32_t value) {
  return hex(
      to_underlying(is_win32(value) ? hresult_from_win32(win32_error{value}) : hresult{value}), 8);
}

std::string verdict_text(const explained& e) {
  if (e.by_default == verdict::transient) return "transient (retried by default)";
  if (e.when_idempotent == verdict::transient) {
    return "permanent; transient at idempotent call sites (the call may have run)";
  }
  if (e.by_default == verdict::success) {
    return e.value == 0 ? "success" : "success (a warning: the caller still sees the code)";
  }
  return e.name.empty() ? "permanent (unknown codes are never retried)" : "permanent";
}

void print_text(const explained& e, std::ostream& out) {
  if (is_win32(e.value)) {
    out << e.value << " (" << hex(e.value, 4) << ")";
  } else {
    out << hex(e.value, 8);
  }
  out << "  " << (e.name.empty() ? "(not in the library's table)" : e.name) << '\n';
  out << "  message:  " << e.message << '\n';
  out << "  HRESULT:  " << hresult_text(e.value) << '\n';
  out << "  verdict:  " << verdict_text(e) << '\n';
}

void print_json(const explained& e, std::ostream& out) {
  out << "{\"code\":";
  if (is_win32(e.value)) {
    out << e.value;
  } else {
    out << "null";
  }
  out << ",\"hresult\":" << json_string(hresult_text(e.value))
      << ",\"name\":" << (e.name.empty() ? std::string("null") : json_string(e.name))
      << ",\"message\":" << json_string(e.message)
      << ",\"verdict\":" << json_string(to_string(e.by_default))
      << ",\"verdict_if_idempotent\":" << json_string(to_string(e.when_idempotent)) << '}';
}

}  // namespace

int run_explain(const explain_args& args, std::ostream& out, std::ostream& err) {
  std::vector<explained> results;
  results.reserve(args.codes.size());
  for (std::size_t i = 0; i < args.codes.size(); ++i) {
    const std::string& text = args.codes[i];
    const auto parsed = parse_code(text);
    if (!parsed) {
      err << "ipsec-retry explain: bad CODE '" << text << "' (argument " << (i + 1)
          << "): " << parsed.error().message()
          << "; expected decimal, 0x hex, an HRESULT or a name like "
             "ERROR_IPSEC_QM_POLICY_PENDING_DELETION\n";
      return exit_bad_input;
    }
    results.push_back(explain_one(parsed.value()));
  }
  if (args.json) {
    if (results.size() == 1) {
      print_json(results.front(), out);
    } else {
      out << "{\"codes\":[";
      for (std::size_t i = 0; i < results.size(); ++i) {
        if (i != 0) out << ',';
        print_json(results[i], out);
      }
      out << "]}";
    }
    out << '\n';
  } else {
    for (const auto& e : results) print_text(e, out);
  }
  return exit_ok;
}

}  // namespace ipsec_retry::cli
