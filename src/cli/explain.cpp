// SPDX-License-Identifier: BSL-1.0
// `ipsec-retry explain CODE...`: name, message, HRESULT and retry verdict of Windows codes.
#include <ipsec_retry/classify.hpp>
#include <ipsec_retry/ipsec/operation_types.hpp>
#include <ipsec_retry/win32_error.hpp>

#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "commands.hpp"
#include "hresult_names.hpp"
#include "output.hpp"

namespace ipsec_retry::cli {
namespace {

// How a value is shown. The rule (docs/cli.md, "explain"): bit 31 clear = a Win32 code; bits 31
// and 30 both set (0xC0000000 and up) = an NTSTATUS error, since an HRESULT keeps bit 30 (its
// reserved R bit) clear; bit 31 alone = an HRESULT. A name from hresult_names.hpp is an HRESULT.
enum class form { win32, hresult, ntstatus };

struct explained {
  std::uint32_t bits;   // as shown: the HRESULT's own bits for an HRESULT name, else normalized
  std::uint32_t value;  // normalized: what the library stores and classifies
  form shown_as;
  std::string name;  // empty when unknown
  std::string message;
  verdict by_default;
  verdict when_idempotent;
  bool named_hresult = false;  // from hresult_names.hpp
};

form form_of(std::uint32_t bits) {
  if ((bits >> 30) == 3) return form::ntstatus;
  return (bits >> 31) != 0 ? form::hresult : form::win32;
}

explained explain_value(std::uint32_t value) {
  const auto info = find_code(value);
  return {value,
          value,
          form_of(value),
          info ? std::string(info->name) : std::string(),
          make_error_code(win32_error{value}).message(),
          default_verdict(value, idempotency::non_idempotent),
          default_verdict(value, idempotency::idempotent)};
}

// An HRESULT known by name only. Classified as an op returning ipsec_retry::hresult is: any
// success HRESULT (S_FALSE too) is success, a failure by its normalized value.
explained explain_hresult(const hresult_name& h) {
  const hresult hr{h.bits};
  const std::uint32_t value = normalize(hr);
  const auto by = [&](idempotency site) {
    return succeeded(hr) ? verdict::success : default_verdict(value, site);
  };
  return {h.bits,
          value,
          form::hresult,
          std::string(h.name),
          std::string(h.message),
          by(idempotency::non_idempotent),
          by(idempotency::idempotent),
          true};
}

// The HRESULT of a value: HRESULT_FROM_WIN32 of a Win32 code, HRESULT_FROM_NT (bit 28, the N
// bit, set) of an NTSTATUS, else the HRESULT itself.
std::uint32_t hresult_of(const explained& e) {
  switch (e.shown_as) {
    case form::win32:
      return to_underlying(hresult_from_win32(win32_error{e.bits}));
    case form::ntstatus:
      return e.bits | 0x10000000u;
    case form::hresult:
      break;
  }
  return e.bits;
}

// The Win32 code an HRESULT wraps (E_ACCESSDENIED: 5), if any.
std::optional<std::uint32_t> wrapped_win32(const explained& e) {
  if (e.shown_as != form::hresult) return std::nullopt;
  const auto win32 = win32_from_hresult(hresult{e.bits});
  return win32 ? std::optional(to_underlying(*win32)) : std::nullopt;
}

std::string_view form_text(form f) {
  switch (f) {
    case form::win32:
      return "win32";
    case form::ntstatus:
      return "ntstatus";
    case form::hresult:
      break;
  }
  return "hresult";
}

std::string verdict_text(const explained& e) {
  if (e.by_default == verdict::transient) return "transient (retried by default)";
  if (e.when_idempotent == verdict::transient) {
    return "permanent; transient at idempotent call sites (the call may have run)";
  }
  if (e.by_default == verdict::success) {
    if (e.named_hresult && e.bits != 0) {
      return "success (a success HRESULT, from an op returning an hresult)";
    }
    return e.value == 0 ? "success" : "success (a warning: the caller still sees the code)";
  }
  return e.name.empty() ? "permanent (unknown codes are never retried)" : "permanent";
}

// What a caller can do about an IN_USE or PENDING_DELETION code (docs/simulator.md), found
// through the code table's object and role columns; "" for other codes.
std::string_view advice(std::uint32_t value) {
  const auto code = object_code_of(value);
  if (!code) return {};
  switch (code->role) {
    case object_code_role::in_use:
      return code->object == object_kind::mm_auth_methods
                 ? "MM filters still use these auth methods: delete the filters first. A "
                   "deleted filter stays pending deletion, still using them, while another "
                   "client holds a handle to it, so after removing the filters retry IN_USE "
                   "(the teardown composite does)."
                 : "filters still use this policy: delete them first. A deleted filter stays "
                   "pending deletion, still using the policy, while another client holds a "
                   "handle to it, so after removing the filters retry IN_USE (the replace and "
                   "teardown composites do).";
    case object_code_role::pending_deletion:
      return ipsec::is_filter(code->object)
                 ? "the filter was deleted while another client holds a handle to it; it goes "
                   "away when the last such handle closes or that client disconnects, which no "
                   "clock bounds. Open and re-add can wait for it (transient). A Set through "
                   "your own handle can never succeed: your handle is what keeps the filter, so "
                   "close it."
                 : "the object is being deleted: Set, Delete and Add of it fail until the "
                   "deletion completes, then it is absent. Retry; a delete that saw this code "
                   "counts the later NOT_FOUND as done.";
    case object_code_role::exists:
    case object_code_role::not_found:
      break;
  }
  return {};
}

void print_text(const explained& e, std::ostream& out) {
  switch (e.shown_as) {
    case form::win32:
      out << e.bits << " (" << hex(e.bits, 4) << ")  "
          << (e.name.empty() ? "(not in the library's table)" : e.name) << '\n';
      break;
    case form::hresult:
      out << hex(e.bits, 8) << "  " << (e.name.empty() ? "(not in the library's table)" : e.name)
          << '\n';
      break;
    case form::ntstatus:
      out << hex(e.bits, 8) << "  NTSTATUS "
          << (e.name.empty() ? "(an error status, not an HRESULT; the library has no NTSTATUS "
                               "names)"
                             : e.name)
          << '\n';
      break;
  }
  const auto win32 = e.named_hresult ? wrapped_win32(e) : std::nullopt;
  if (win32) {
    const auto info = find_code(*win32);
    const std::string win32_name = info ? std::string(info->name) : std::to_string(*win32);
    out << "  Win32:    " << *win32 << " (" << hex(*win32, 4) << ")  " << win32_name << ": "
        << e.name << " is HRESULT_FROM_WIN32(" << win32_name << "), the same code to the library\n";
  } else if (e.named_hresult) {
    out << "  note:     a success HRESULT; the bare number " << e.value << " is "
        << explain_value(e.value).name << '\n';
  }
  out << "  message:  " << e.message << '\n';
  out << "  HRESULT:  " << hex(hresult_of(e), 8)
      << (e.shown_as == form::ntstatus ? " (HRESULT_FROM_NT)" : "") << '\n';
  out << "  verdict:  " << verdict_text(e) << '\n';
  if (const std::string_view what = advice(e.value); !what.empty()) {
    out << "  advice:   " << what << '\n';
  }
}

void write_json(const explained& e, json_writer& json) {
  json.begin_object().key("code");
  if (e.shown_as == form::win32) {
    json.value(e.bits);
  } else if (const auto win32 = wrapped_win32(e)) {
    json.value(*win32);
  } else {
    json.null();
  }
  json.field("hresult", hex(hresult_of(e), 8)).key("name");
  if (e.name.empty()) {
    json.null();
  } else {
    json.value(e.name);
  }
  json.field("message", e.message)
      .field("verdict", to_string(e.by_default))
      .field("verdict_if_idempotent", to_string(e.when_idempotent))
      .field("kind", form_text(e.shown_as))
      .key("ntstatus");
  if (e.shown_as == form::ntstatus) {
    json.value(hex(e.bits, 8));
  } else {
    json.null();
  }
  json.end_object();
}

}  // namespace

int run_explain(const explain_args& args, std::ostream& out, std::ostream& err) {
  std::vector<explained> results;
  results.reserve(args.codes.size());
  for (std::size_t i = 0; i < args.codes.size(); ++i) {
    const std::string& text = args.codes[i];
    if (const auto h = find_hresult_name(detail::trim(text))) {
      results.push_back(explain_hresult(*h));
      continue;
    }
    const auto parsed = parse_code(text);
    if (!parsed) {
      err << "ipsec-retry explain: bad CODE '" << text << "' (argument " << (i + 1)
          << "): " << parsed.error().message()
          << "; expected decimal, 0x hex, an HRESULT or a name like "
             "ERROR_IPSEC_QM_POLICY_PENDING_DELETION\n";
      return exit_bad_input;
    }
    results.push_back(explain_value(parsed.value()));
  }
  if (args.json) {
    json_writer json(out);
    if (results.size() == 1) {
      write_json(results.front(), json);
    } else {
      json.begin_object().key("codes").begin_array();
      for (const auto& e : results) write_json(e, json);
      json.end_array().end_object();
    }
    out << '\n';
  } else {
    for (const auto& e : results) print_text(e, out);
  }
  return exit_ok;
}

}  // namespace ipsec_retry::cli
