// Post-processor parsing; see post_processor.h.
#include "post_processor.h"

namespace imp::text::detail {
namespace {

// A ["<s>", 1] pair of RobertaProcessing / BertProcessing.
int64_t pair_id(const Json& j, const char* key, const Where& w) {
  const Json& p = require(j, key, w);
  IMP_CHECK(p.is_array() && p.size() == 2, w.at(key).str(), ": expected [token, id]");
  return as_int(p[1], w.at(key).at(1), 0, INT32_MAX);
}

PostProcess template_processing(const Json& j, const Where& w) {
  PostProcess out;
  const Json& single = expect_array(require(j, "single", w), w.at("single"));
  const Json* specials = find_field(j, "special_tokens");
  bool seen_a = false;
  for (size_t i = 0; i < single.size(); ++i) {
    const Where wi = w.at("single").at(i);
    const Json& piece = expect_object(single[i], wi);
    if (const Json* seq = find_field(piece, "Sequence")) {
      const std::string id = as_string(require(*seq, "id", wi.at("Sequence")), wi.at("Sequence").at("id"));
      IMP_CHECK(id == "A" && !seen_a, wi.str(), ": the single-sequence template must contain $A exactly once");
      seen_a = true;
      continue;
    }
    const Json* sp = find_field(piece, "SpecialToken");
    IMP_CHECK(sp != nullptr, wi.str(), ": expected a Sequence or SpecialToken piece");
    const std::string name = as_string(require(*sp, "id", wi.at("SpecialToken")), wi.at("SpecialToken").at("id"));
    IMP_CHECK(specials && specials->is_object() && specials->contains(name), wi.str(), ": special token '", name,
              "' is not listed in special_tokens");
    const Where ws = w.at("special_tokens").at(name);
    const Json& ids = expect_array(require(specials->at(name), "ids", ws), ws.at("ids"));
    for (size_t k = 0; k < ids.size(); ++k) {
      (seen_a ? out.suffix : out.prefix).push_back(as_int(ids[k], ws.at("ids").at(k), 0, INT32_MAX));
    }
  }
  IMP_CHECK(seen_a, w.at("single").str(), ": the template has no $A");
  return out;
}

}  // namespace

PostProcess parse_post_processor(const Json& j, const Where& w, int depth) {
  if (j.is_null()) return {};
  IMP_CHECK(depth < kMaxNesting, w.str(), ": post-processors nested too deeply");
  const std::string type = type_of(j, w);
  if (type == "ByteLevel") return {};  // only trims offsets
  if (type == "TemplateProcessing") return template_processing(j, w);
  if (type == "RobertaProcessing" || type == "BertProcessing") {
    return {{pair_id(j, "cls", w)}, {pair_id(j, "sep", w)}};
  }
  if (type == "Sequence") {
    PostProcess out;
    const Json& arr = expect_array(require(j, "processors", w), w.at("processors"));
    for (size_t i = 0; i < arr.size(); ++i) {
      PostProcess p = parse_post_processor(arr[i], w.at("processors").at(i), depth + 1);
      out.prefix.insert(out.prefix.begin(), p.prefix.begin(), p.prefix.end());
      out.suffix.insert(out.suffix.end(), p.suffix.begin(), p.suffix.end());
    }
    return out;
  }
  IMP_FAIL(w.str(), ": unsupported post_processor type '", type,
           "' (imp supports TemplateProcessing, RobertaProcessing, BertProcessing, ByteLevel, Sequence)");
}

}  // namespace imp::text::detail
