#include "verifiers/service/convert.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace rlvr::service {

absl::StatusOr<VerifyRequest> FromProto(const verifier::v1::VerifyItem& item, int index) {
  VerifyRequest r;
  r.id = item.id();
  r.completion = item.completion();
  r.answer = item.answer();
  r.completion_tokens = item.completion_tokens();
  if (!item.spec_json().empty()) {
    r.spec = nlohmann::json::parse(item.spec_json(), nullptr, /*allow_exceptions=*/false);
    if (r.spec.is_discarded() || !r.spec.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat("items[", index, "] (id '", item.id(),
                                                     "'): field 'spec_json' is not a JSON object"));
    }
  }
  return r;
}

void ToProto(const VerifyRequest& request, verifier::v1::VerifyItem* item) {
  item->set_id(request.id);
  item->set_completion(request.completion);
  item->set_answer(request.answer);
  if (!request.spec.is_null() && !(request.spec.is_object() && request.spec.empty())) {
    item->set_spec_json(request.spec.dump());
  }
  item->set_completion_tokens(request.completion_tokens);
}

void ToProto(const std::string& id, const absl::StatusOr<Reward>& reward,
             verifier::v1::VerifyResult* result) {
  result->set_id(id);
  if (!reward.ok()) {
    result->set_status_code(static_cast<int>(reward.status().code()));
    result->set_status_message(std::string(reward.status().message()));
    return;
  }
  result->set_status_code(0);
  result->set_score(reward->score);
  result->set_verdict(reward->verdict);
  if (!reward->details.is_null() && !(reward->details.is_object() && reward->details.empty())) {
    result->set_details_json(reward->details.dump());
  }
}

absl::StatusOr<Reward> FromProto(const verifier::v1::VerifyResult& result) {
  if (result.status_code() != 0) {
    const int code = result.status_code();
    const auto status_code =
        code > 0 && code <= 16 ? static_cast<absl::StatusCode>(code) : absl::StatusCode::kUnknown;
    return absl::Status(status_code, result.status_message());
  }
  Reward r;
  r.score = result.score();
  r.verdict = result.verdict();
  if (!std::isfinite(r.score)) {
    return absl::InternalError(absl::StrCat("the remote verifier returned a non-finite reward (",
                                            r.score, ") for id '", result.id(), "'"));
  }
  if (!result.details_json().empty()) {
    r.details = nlohmann::json::parse(result.details_json(), nullptr, /*allow_exceptions=*/false);
    if (r.details.is_discarded() || !r.details.is_object()) {
      return absl::InternalError(
          absl::StrCat("the remote verifier returned details_json that is "
                       "not a JSON object for id '",
                       result.id(), "'"));
    }
  }
  return r;
}

}  // namespace rlvr::service
