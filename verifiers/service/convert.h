// Conversions between the VerifierService messages and the domain types. Only the
// service edge (verifier_server.cc, remote_verifier.cc) includes this header.
#ifndef RLVR_VERIFIERS_SERVICE_CONVERT_H_
#define RLVR_VERIFIERS_SERVICE_CONVERT_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "verifier.pb.h"
#include "verifiers/verifier.h"

namespace rlvr::service {

// INVALID_ARGUMENT naming the item and field when spec_json is not a JSON object.
absl::StatusOr<VerifyRequest> FromProto(const verifier::v1::VerifyItem& item, int index);
void ToProto(const VerifyRequest& request, verifier::v1::VerifyItem* item);

// A reward or an item error into one result.
void ToProto(const std::string& id, const absl::StatusOr<Reward>& reward,
             verifier::v1::VerifyResult* result);
// A result back into a reward or the item's error; a non-finite score or bad
// details_json is INTERNAL (never a silent zero).
absl::StatusOr<Reward> FromProto(const verifier::v1::VerifyResult& result);

}  // namespace rlvr::service

#endif  // RLVR_VERIFIERS_SERVICE_CONVERT_H_
