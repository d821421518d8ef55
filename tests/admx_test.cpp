// SPDX-License-Identifier: BSL-1.0
// admx/: the Group Policy template. The committed files are the generator's output
// (tools/admx), well-formed XML whose references resolve both ways, with one policy per
// built-in site; and what the template writes is exactly what call_site_registry reads: every
// policy's key and value, set through a fake registry, is read back with HKLM winning and
// nothing skipped, and the reader reads no key the template does not write.
#include <ipsec_retry/ipsec/call_sites.hpp>
#include <ipsec_retry/ipsec/registry_source.hpp>

#include <gtest/gtest.h>

#include "admx_template.hpp"
#include "fake_registry.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ir = ipsec_retry;
namespace ipsec = ipsec_retry::ipsec;
using ipsec::registry_hive;

namespace {

// ---- A small XML reader: elements, attributes, text, comments, the prolog. Enough for the
// template's subset, and strict: a mismatched tag, a duplicate attribute or an unknown entity
// throws with the line.
struct xml_element {
  std::string name;
  std::map<std::string, std::string> attributes;
  std::string text;  // the character data directly inside it, entities decoded
  std::vector<xml_element> children;

  const std::string& attribute(const std::string& key) const {
    static const std::string none;
    const auto it = attributes.find(key);
    return it == attributes.end() ? none : it->second;
  }
  std::vector<const xml_element*> all(std::string_view child) const {
    std::vector<const xml_element*> found;
    for (const xml_element& c : children) {
      if (c.name == child) found.push_back(&c);
    }
    return found;
  }
  const xml_element& one(std::string_view child) const {
    const auto found = all(child);
    if (found.size() != 1) {
      throw std::runtime_error("<" + name + "> has " + std::to_string(found.size()) + " <" +
                               std::string(child) + ">, expected 1");
    }
    return *found.front();
  }
};

class xml_reader {
 public:
  explicit xml_reader(std::string_view text) : text_(text) {}

  xml_element document() {
    skip_misc();
    if (!at("<")) fail("no root element");
    xml_element root = element();
    skip_misc();
    if (pos_ != text_.size()) fail("text after the root element");
    return root;
  }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;

  [[noreturn]] void fail(const std::string& what) const {
    const auto line =
        1 + std::count(text_.begin(),
                       text_.begin() + static_cast<std::ptrdiff_t>(std::min(pos_, text_.size())),
                       '\n');
    throw std::runtime_error("line " + std::to_string(line) + ": " + what);
  }
  bool at(std::string_view s) const { return text_.substr(pos_, s.size()) == s; }
  void expect(std::string_view s) {
    if (!at(s)) fail("expected '" + std::string(s) + "'");
    pos_ += s.size();
  }
  void skip_until(std::string_view end) {
    const auto found = text_.find(end, pos_);
    if (found == std::string_view::npos) fail("no closing '" + std::string(end) + "'");
    pos_ = found + end.size();
  }
  void skip_blanks() {
    while (pos_ < text_.size() &&
           std::string_view(" \t\r\n").find(text_[pos_]) != std::string_view::npos)
      ++pos_;
  }
  void skip_misc() {  // blanks, comments and processing instructions between elements
    for (;;) {
      skip_blanks();
      if (at("<?")) {
        skip_until("?>");
      } else if (at("<!--")) {
        skip_until("-->");
      } else {
        return;
      }
    }
  }
  std::string name() {
    const std::size_t start = pos_;
    while (pos_ < text_.size() &&
           (std::isalnum(static_cast<unsigned char>(text_[pos_])) != 0 ||
            std::string_view(":_-.").find(text_[pos_]) != std::string_view::npos))
      ++pos_;
    if (pos_ == start) fail("expected a name");
    return std::string(text_.substr(start, pos_ - start));
  }
  std::string decoded(std::string_view raw) const {
    static const std::map<std::string_view, char> entities{
        {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
    std::string out;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '<') fail("'<' in text");
      if (raw[i] != '&') {
        out += raw[i];
        continue;
      }
      const auto semi = raw.find(';', i);
      const auto it = semi == std::string_view::npos
                          ? entities.end()
                          : entities.find(raw.substr(i + 1, semi - i - 1));
      if (it == entities.end()) fail("unknown entity in '" + std::string(raw.substr(i, 12)) + "'");
      out += it->second;
      i = semi;
    }
    return out;
  }
  xml_element element() {
    expect("<");
    xml_element e;
    e.name = name();
    for (;;) {
      skip_blanks();
      if (at("/>")) {
        pos_ += 2;
        return e;
      }
      if (at(">")) break;
      const std::string key = name();
      skip_blanks();
      expect("=");
      skip_blanks();
      expect("\"");
      const auto close = text_.find('"', pos_);
      if (close == std::string_view::npos) fail("unterminated attribute " + key);
      if (!e.attributes.emplace(key, decoded(text_.substr(pos_, close - pos_))).second)
        fail("attribute " + key + " twice in <" + e.name + ">");
      pos_ = close + 1;
    }
    ++pos_;
    for (;;) {
      const auto lt = text_.find('<', pos_);
      if (lt == std::string_view::npos) fail("<" + e.name + "> is not closed");
      e.text += decoded(text_.substr(pos_, lt - pos_));
      pos_ = lt;
      if (at("</")) {
        pos_ += 2;
        if (name() != e.name) fail("</...> does not close <" + e.name + ">");
        skip_blanks();
        expect(">");
        return e;
      }
      if (at("<!--")) {
        skip_until("-->");
      } else {
        e.children.push_back(element());
      }
    }
  }
};

std::string read_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error("cannot read " + path);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

const std::string admx_path = std::string(IPSEC_RETRY_SOURCE_DIR) + "/admx/ipsec_retry.admx";
const std::string adml_path = std::string(IPSEC_RETRY_SOURCE_DIR) + "/admx/en-US/ipsec_retry.adml";

// "$(string.X)" -> "X"; anything else -> "".
std::string reference(std::string_view attribute, std::string_view table) {
  const std::string prefix = "$(" + std::string(table) + ".";
  if (attribute.substr(0, prefix.size()) != prefix || attribute.empty() || attribute.back() != ')')
    return {};
  return std::string(attribute.substr(prefix.size(), attribute.size() - prefix.size() - 1));
}

// One policy as the template states it.
struct template_policy {
  std::string name;
  std::string policy_class;
  std::string key;
  std::string value_name;  // of its text element; "" for a list
  std::string list_key;    // of its list element
  std::string element_id;
  std::string explain;        // resolved through the ADML
  std::string default_value;  // its text box's
  std::string presentation_ref_id;
};

struct parsed_template {
  xml_element admx, adml;
  std::map<std::string, std::string> strings;
  std::map<std::string, const xml_element*> presentations;
  std::vector<template_policy> policies;
};

parsed_template parse_committed_template() {
  parsed_template t;
  t.admx = xml_reader(read_file(admx_path)).document();
  t.adml = xml_reader(read_file(adml_path)).document();
  const xml_element& resources = t.adml.one("resources");
  for (const xml_element* s : resources.one("stringTable").all("string")) {
    if (!t.strings.emplace(s->attribute("id"), s->text).second)
      throw std::runtime_error("string " + s->attribute("id") + " twice");
  }
  for (const xml_element* p : resources.one("presentationTable").all("presentation")) {
    if (!t.presentations.emplace(p->attribute("id"), p).second)
      throw std::runtime_error("presentation " + p->attribute("id") + " twice");
  }
  for (const xml_element* p : t.admx.one("policies").all("policy")) {
    template_policy policy;
    policy.name = p->attribute("name");
    policy.policy_class = p->attribute("class");
    policy.key = p->attribute("key");
    const xml_element& elements = p->one("elements");
    if (elements.children.size() != 1)
      throw std::runtime_error(policy.name + " has " + std::to_string(elements.children.size()) +
                               " elements, expected 1");
    const xml_element& element = elements.children.front();
    policy.element_id = element.attribute("id");
    if (element.name == "text") {
      policy.value_name = element.attribute("valueName");
      if (policy.value_name.empty()) throw std::runtime_error(policy.name + ": no valueName");
    } else if (element.name == "list") {
      policy.list_key = element.attribute("key");
    } else {
      throw std::runtime_error(policy.name + ": unexpected element <" + element.name + ">");
    }
    const auto explain = t.strings.find(reference(p->attribute("explainText"), "string"));
    if (explain != t.strings.end()) policy.explain = explain->second;
    const auto presentation =
        t.presentations.find(reference(p->attribute("presentation"), "presentation"));
    if (presentation != t.presentations.end() && presentation->second->children.size() == 1) {
      const xml_element& box = presentation->second->children.front();
      policy.presentation_ref_id = box.attribute("refId");
      if (box.name == "textBox" && !box.all("defaultValue").empty())
        policy.default_value = box.one("defaultValue").text;
    }
    t.policies.push_back(policy);
  }
  return t;
}

const std::string key_root(ipsec::group_policy_key);

// ---- The files are the generator's output.

// "" if equal, else the first line that differs, numbered from 1.
std::string first_difference(const std::string& committed, const std::string& generated) {
  std::istringstream a(committed), b(generated);
  std::string line_a, line_b;
  for (int line = 1;; ++line) {
    const bool more_a = static_cast<bool>(std::getline(a, line_a));
    const bool more_b = static_cast<bool>(std::getline(b, line_b));
    if (!more_a && !more_b) return {};
    if (more_a != more_b || line_a != line_b) {
      return "line " + std::to_string(line) + ": committed '" + (more_a ? line_a : "<end>") +
             "', generated '" + (more_b ? line_b : "<end>") + "'";
    }
  }
}

TEST(Admx, CommittedFilesAreWhatTheGeneratorWritesFromTheLibrarysTables) {
  const std::string admx = read_file(admx_path), adml = read_file(adml_path);
  EXPECT_EQ(first_difference(admx, ir::admx::admx_text()), "")
      << "admx/ipsec_retry.admx is stale: cmake --build build/default --target admx";
  EXPECT_EQ(first_difference(adml, ir::admx::adml_text()), "")
      << "admx/en-US/ipsec_retry.adml is stale: cmake --build build/default --target admx";
  EXPECT_EQ(admx.size(), ir::admx::admx_text().size());  // line ends too
  EXPECT_EQ(adml.size(), ir::admx::adml_text().size());
}

TEST(Admx, TheReaderRefusesBrokenXml) {
  // The checks below are only as good as this reader: it must not accept what Windows refuses.
  EXPECT_THROW(xml_reader("<a><b></a>").document(), std::runtime_error);
  EXPECT_THROW(xml_reader("<a x=\"1\" x=\"2\"/>").document(), std::runtime_error);
  EXPECT_THROW(xml_reader("<a>&nbsp;</a>").document(), std::runtime_error);
  EXPECT_THROW(xml_reader("<a/><b/>").document(), std::runtime_error);
  EXPECT_THROW(xml_reader("<a x=\"1>").document(), std::runtime_error);
  const xml_element e = xml_reader(
                            "<?xml version=\"1.0\"?><!-- c --><a k=\"&lt;&amp;\">x&gt;"
                            "<b/></a>")
                            .document();
  EXPECT_EQ(e.attribute("k"), "<&");
  EXPECT_EQ(e.text, "x>");
  EXPECT_EQ(e.children.size(), 1u);
}

TEST(Admx, EveryBuiltInSiteHasExactlyOnePolicyAndEverySitePolicyAnExistingSite) {
  const parsed_template t = parse_committed_template();
  const ipsec::call_site_registry defaults;
  std::set<std::string> built_in;
  for (const auto& site : defaults.describe_sites()) built_in.insert(site.name);
  ASSERT_EQ(built_in.size(), 24u);  // 3 policies x 3 operations + 3 filters x 5 operations

  std::map<std::string, int> policies_per_site;
  for (const template_policy& p : t.policies) {
    if (p.key != key_root + "\\Sites" || p.value_name.empty()) continue;
    ++policies_per_site[p.value_name];
    EXPECT_TRUE(built_in.count(p.value_name))
        << p.name << " writes " << p.value_name << ", which is no built-in site";
  }
  for (const std::string& site : built_in) {
    EXPECT_EQ(policies_per_site[site], 1) << site;
  }
}

TEST(Admx, PoliciesWriteOnlyTheKeysTheReaderReadsAndTheReaderReadsOnlyThose) {
  const parsed_template t = parse_committed_template();
  std::set<std::string> written;
  for (const template_policy& p : t.policies) {
    EXPECT_EQ(p.policy_class, "Both") << p.name << ": HKLM and HKCU are both read";
    written.insert(p.key);
    if (!p.list_key.empty()) {
      EXPECT_EQ(p.list_key, p.key) << p.name;
    }
  }
  const ir::test::fake_registry registry;
  ipsec::call_site_registry sites;
  ASSERT_TRUE(sites.load_registry(registry.reader()));
  std::set<std::string> read;
  std::set<registry_hive> hives;
  for (const auto& [hive, key] : registry.reads) {
    read.insert(key);
    hives.insert(hive);
  }
  EXPECT_EQ(written, read);
  EXPECT_EQ(hives.size(), 2u);
  EXPECT_EQ(written, (std::set<std::string>{key_root + "\\Breakers", key_root + "\\Budgets",
                                            key_root + "\\Sites"}));
}

TEST(Admx, EveryReferenceResolvesAndEveryStringAndPresentationIsUsed) {
  const parsed_template t = parse_committed_template();
  std::set<std::string> used_strings, used_presentations;
  std::set<std::string> categories, supported;
  const auto use_string = [&](const std::string& attribute, const std::string& where) {
    const std::string id = reference(attribute, "string");
    EXPECT_FALSE(id.empty()) << where << ": '" << attribute << "' is no $(string.ID)";
    EXPECT_TRUE(t.strings.count(id)) << where << ": no string " << id << " in the ADML";
    used_strings.insert(id);
  };
  for (const xml_element* d : t.admx.one("supportedOn").one("definitions").all("definition")) {
    supported.insert(d->attribute("name"));
    use_string(d->attribute("displayName"), d->attribute("name"));
  }
  for (const xml_element* c : t.admx.one("categories").all("category")) {
    categories.insert(c->attribute("name"));
    use_string(c->attribute("displayName"), c->attribute("name"));
    if (!c->attribute("explainText").empty())
      use_string(c->attribute("explainText"), c->attribute("name"));
  }
  for (const xml_element* c : t.admx.one("categories").all("category")) {
    for (const xml_element* parent : c->all("parentCategory"))
      EXPECT_TRUE(categories.count(parent->attribute("ref"))) << c->attribute("name");
  }
  for (const xml_element* p : t.admx.one("policies").all("policy")) {
    const std::string& name = p->attribute("name");
    use_string(p->attribute("displayName"), name);
    use_string(p->attribute("explainText"), name);
    EXPECT_TRUE(categories.count(p->one("parentCategory").attribute("ref"))) << name;
    EXPECT_TRUE(supported.count(p->one("supportedOn").attribute("ref"))) << name;
    const std::string presentation = reference(p->attribute("presentation"), "presentation");
    EXPECT_TRUE(t.presentations.count(presentation)) << name << ": no presentation";
    used_presentations.insert(presentation);
  }
  for (const template_policy& p : t.policies) {
    EXPECT_EQ(p.presentation_ref_id, p.element_id) << p.name << ": presentation and element";
  }
  for (const auto& [id, text] : t.strings) {
    EXPECT_TRUE(used_strings.count(id)) << "string " << id << " is used by nothing";
    EXPECT_FALSE(text.empty()) << "string " << id;
  }
  for (const auto& [id, element] : t.presentations) {
    EXPECT_TRUE(used_presentations.count(id)) << "presentation " << id << " is used by nothing";
  }
  EXPECT_EQ(t.admx.attribute("xmlns"), t.adml.attribute("xmlns"));
  EXPECT_EQ(t.admx.attribute("revision"), t.adml.attribute("revision"));
}

TEST(Admx, SiteExplainTextsGiveTheGrammarAndTheSitesDefault) {
  const parsed_template t = parse_committed_template();
  const ipsec::call_site_registry defaults;
  for (const auto& site : defaults.describe_sites()) {
    const auto p =
        std::find_if(t.policies.begin(), t.policies.end(), [&](const template_policy& q) {
          return q.value_name == site.name && q.key == key_root + "\\Sites";
        });
    ASSERT_NE(p, t.policies.end()) << site.name;
    EXPECT_NE(p->explain.find("The site's default:\n" + site.policy.format() + "\n"),
              std::string::npos)
        << site.name;
    for (const char* key : {"attempts:", "timeout:", "backoff:", "initial:", "multiplier:", "step:",
                            "max_delay:", "jitter:", "retry_on:", "never_retry:", "success_on:",
                            "idempotent:", "at_deadline:", "seed:", "budget:", "breaker:"}) {
      EXPECT_NE(p->explain.find(std::string("\n") + key), std::string::npos)
          << site.name << " explains no " << key;
    }
    EXPECT_NE(p->explain.find("ipsec-retry sites"), std::string::npos) << site.name;
    // The text box starts from the default: enabling the policy unchanged changes nothing.
    EXPECT_EQ(p->default_value, site.policy.format()) << site.name;
  }
}

TEST(Admx, ValuesTheTemplateWritesAreReadBackWithTheComputersWinningAndNothingSkipped) {
  const parsed_template t = parse_committed_template();
  ir::test::fake_registry registry;
  int lists = 0;
  for (const template_policy& p : t.policies) {
    const std::string subkey = p.key.substr(key_root.size() + 1);
    if (!p.value_name.empty()) {
      // The user's policy says one thing, the computer's another.
      if (subkey == "Sites") {
        registry.set(registry_hive::current_user, p.key, p.value_name, "timeout=3s");
        registry.set(registry_hive::local_machine, p.key, p.value_name,
                     "timeout=7s, budget=agent, breaker=agent");
      } else if (subkey == "Budgets") {
        registry.set(registry_hive::current_user, p.key, p.value_name, "max_tokens=3");
        registry.set(registry_hive::local_machine, p.key, p.value_name, "max_tokens=7");
      } else {
        registry.set(registry_hive::current_user, p.key, p.value_name, "failure_threshold=3");
        registry.set(registry_hive::local_machine, p.key, p.value_name, "failure_threshold=7");
      }
    } else {
      ++lists;  // a list writes value names of the administrator's choosing
      if (subkey == "Budgets")
        registry.set(registry_hive::local_machine, p.key, "other", "max_tokens=5");
      if (subkey == "Breakers")
        registry.set(registry_hive::local_machine, p.key, "other", "cool_down=1min");
    }
  }
  EXPECT_EQ(lists, 3);

  ipsec::call_site_registry sites;
  std::vector<std::string> skipped;
  const auto loaded = sites.load_registry(registry.reader(), &skipped);
  ASSERT_TRUE(loaded) << loaded.error().message();
  EXPECT_TRUE(skipped.empty());
  const auto described = sites.describe_sites();
  ASSERT_EQ(described.size(), 24u);
  for (const auto& site : described) {
    EXPECT_EQ(*site.policy.settings().timeout, std::chrono::seconds(7)) << site.name;
    EXPECT_EQ(site.budget, "agent") << site.name;
    EXPECT_EQ(site.breaker, "agent") << site.name;
    ASSERT_FALSE(site.sources.empty()) << site.name;
    EXPECT_EQ(site.sources.back(), "HKLM\\" + key_root + "\\Sites\\" + site.name);
  }
  std::map<std::string, std::string> budgets, breakers;
  for (const auto& b : sites.describe_budgets()) budgets[b.name] = b.settings;
  for (const auto& b : sites.describe_breakers()) breakers[b.name] = b.settings;
  EXPECT_EQ(budgets["agent"], "max_tokens=7, token_ratio=0.1");
  EXPECT_EQ(budgets["other"], "max_tokens=5, token_ratio=0.1");
  EXPECT_EQ(breakers["agent"], "failure_threshold=7, cool_down=30s");
  EXPECT_EQ(breakers["other"], "failure_threshold=5, cool_down=1min");
}

TEST(Admx, EveryTextBoxDefaultIsAValidLineForItsKey) {
  // An administrator who enables a policy without editing it writes the default: it must load.
  const parsed_template t = parse_committed_template();
  for (const template_policy& p : t.policies) {
    if (p.value_name.empty()) continue;
    ir::test::fake_registry registry;
    registry.set(registry_hive::local_machine, p.key, p.value_name, p.default_value);
    ipsec::call_site_registry sites;
    const auto loaded = sites.load_registry(registry.reader());
    EXPECT_TRUE(loaded) << p.name << ": " << loaded.error().message();
  }
}

}  // namespace
