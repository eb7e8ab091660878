// The VerifierService on real loopback ports: server, RemoteVerifier client, health,
// reflection, deadlines, cancellation, overload, tokens, retries, and a load test.
#include <gmock/gmock.h>
#include <google/protobuf/unknown_field_set.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "verifier.grpc.pb.h"
#include "verifiers/service/remote_verifier.h"
#include "verifiers/service/verifier_server.h"

namespace rlvr {
namespace {

using ::testing::HasSubstr;
namespace pb = ::rlvr::verifier::v1;

// Exact string match; spec {"sleep_ms": n} sleeps first, {"fail": true} is an error.
class TestVerifier final : public Verifier {
 public:
  std::string name() const override { return "test_exact"; }
  absl::StatusOr<Reward> Verify(const VerifyRequest& r) const override {
    calls_++;
    if (r.spec.contains("sleep_ms")) {
      std::this_thread::sleep_for(std::chrono::milliseconds(r.spec["sleep_ms"].get<int>()));
    }
    if (r.spec.value("fail", false)) {
      return absl::InvalidArgumentError(absl::StrCat("request '", r.id, "': told to fail"));
    }
    Reward out;
    out.score = r.completion == r.answer ? 1.0 : 0.0;
    out.verdict = r.completion == r.answer ? "correct" : "incorrect";
    out.details["echo"] = r.id;
    return out;
  }
  mutable std::atomic<int> calls_{0};
};

VerifyRequest Req(std::string id, std::string completion, std::string answer,
                  nlohmann::json spec = nlohmann::json::object()) {
  VerifyRequest r;
  r.id = std::move(id);
  r.completion = std::move(completion);
  r.answer = std::move(answer);
  r.spec = std::move(spec);
  return r;
}

struct Fixture {
  std::shared_ptr<TestVerifier> verifier = std::make_shared<TestVerifier>();
  std::unique_ptr<VerifierServer> server;
  explicit Fixture(VerifierServerOptions options = {}) {
    server = VerifierServer::Start(verifier, options).value();
  }
};

std::unique_ptr<RemoteVerifier> Client(const std::string& target, RemoteVerifierOptions o = {}) {
  o.target = target;
  return RemoteVerifier::Create(o).value();
}

std::string ToString(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(buffer.Dump(&slices).ok());
  std::string out;
  for (const grpc::Slice& s : slices)
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

// Calls a unary method with raw bytes through the generic stub.
grpc::Status RawUnary(const std::string& target, const std::string& method,
                      const std::string& request, std::string* response) {
  auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::Slice slice(request);
  grpc::ByteBuffer req(&slice, 1);
  auto call = stub.PrepareUnaryCall(&ctx, method, req, &cq);
  call->StartCall();
  grpc::ByteBuffer resp;
  grpc::Status status;
  call->Finish(&resp, &status, reinterpret_cast<void*>(1));
  void* tag;
  bool ok;
  EXPECT_TRUE(cq.Next(&tag, &ok));
  if (status.ok()) *response = ToString(resp);
  return status;
}

// Decodes field `number` of a serialized message (independent of generated code).
std::vector<std::string> Fields(const std::string& bytes, int number) {
  google::protobuf::UnknownFieldSet set;
  EXPECT_TRUE(set.ParseFromString(bytes));
  std::vector<std::string> out;
  for (int i = 0; i < set.field_count(); ++i) {
    const auto& f = set.field(i);
    if (f.number() != number) continue;
    if (f.type() == google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED)
      out.push_back(f.length_delimited());
    if (f.type() == google::protobuf::UnknownField::TYPE_VARINT)
      out.push_back(std::to_string(f.varint()));
  }
  return out;
}

TEST(VerifierServiceTest, PerItemResultsInOrder) {
  Fixture f;
  auto client = Client(f.server->target());
  std::vector<VerifyRequest> batch = {Req("a", "42", "42"), Req("b", "41", "42"),
                                      Req("c", "x", "x", {{"fail", true}}), Req("d", "", "")};
  auto results = client->VerifyBatch(batch);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 4u);
  EXPECT_EQ((*results)[0]->score, 1.0);
  EXPECT_EQ((*results)[0]->verdict, "correct");
  EXPECT_EQ((*results)[0]->details["echo"], "a");
  EXPECT_EQ((*results)[1]->score, 0.0);
  EXPECT_EQ((*results)[2].status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string((*results)[2].status().message()), HasSubstr("told to fail"));
  EXPECT_EQ((*results)[3]->score, 1.0);
  // Single-item Verify through the Verifier interface.
  EXPECT_EQ(client->Verify(Req("e", "7", "7"))->score, 1.0);
  EXPECT_EQ(client->Verify(Req("f", "7", "7", {{"fail", true}})).status().code(),
            absl::StatusCode::kInvalidArgument);
  // A malformed spec_json is that item's error; the others are graded.
  auto stub = pb::VerifierService::NewStub(
      grpc::CreateChannel(f.server->target(), grpc::InsecureChannelCredentials()));
  pb::VerifyRequest req;
  auto* bad = req.add_items();
  bad->set_id("bad");
  bad->set_spec_json("[1, 2");
  auto* good = req.add_items();
  good->set_id("good");
  good->set_completion("1");
  good->set_answer("1");
  pb::VerifyResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub->Verify(&ctx, req, &resp).ok());
  ASSERT_EQ(resp.results_size(), 2);
  EXPECT_EQ(resp.results(0).status_code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_THAT(resp.results(0).status_message(), HasSubstr("spec_json"));
  EXPECT_EQ(resp.results(1).status_code(), 0);
  EXPECT_EQ(resp.results(1).score(), 1.0);
}

TEST(VerifierServiceTest, DeadlineExceededIsAnErrorNotAReward) {
  Fixture f;
  RemoteVerifierOptions o;
  o.attempt_timeout = absl::Milliseconds(200);
  auto client = Client(f.server->target(), o);
  const absl::Time start = absl::Now();
  absl::StatusOr<Reward> r = client->Verify(Req("slow", "1", "1", {{"sleep_ms", 1500}}));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - start, absl::Seconds(1.2));  // not retried, not waited out
  // The caller's own deadline caps the call too.
  auto batch = client->VerifyBatch({Req("slow", "1", "1", {{"sleep_ms", 1500}})},
                                   absl::Now() + absl::Milliseconds(100));
  EXPECT_EQ(batch.status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(VerifierServiceTest, CancellationSkipsItemsNotStarted) {
  Fixture f({.num_threads = 1});
  auto stub = pb::VerifierService::NewStub(
      grpc::CreateChannel(f.server->target(), grpc::InsecureChannelCredentials()));
  pb::VerifyRequest req;
  for (int i = 0; i < 10; ++i) {
    auto* item = req.add_items();
    item->set_id(std::to_string(i));
    item->set_spec_json(R"({"sleep_ms": 100})");
  }
  grpc::ClientContext ctx;
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    ctx.TryCancel();
  });
  pb::VerifyResponse resp;
  grpc::Status s = stub->Verify(&ctx, req, &resp);
  canceller.join();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::CANCELLED);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_LT(f.verifier->calls_.load(), 5);  // 10 items x 100 ms were not all run
}

TEST(VerifierServiceTest, HealthServing) {
  Fixture f;
  std::string resp;
  // HealthCheckRequest{service: ""} is the empty message; status is field 1, SERVING = 1.
  ASSERT_TRUE(RawUnary(f.server->target(), "/grpc.health.v1.Health/Check", "", &resp).ok());
  EXPECT_EQ(Fields(resp, 1), std::vector<std::string>{"1"});
  std::string named = std::string("\x0a") + static_cast<char>(std::strlen(kVerifierServiceName)) +
                      kVerifierServiceName;
  ASSERT_TRUE(RawUnary(f.server->target(), "/grpc.health.v1.Health/Check", named, &resp).ok());
  EXPECT_EQ(Fields(resp, 1), std::vector<std::string>{"1"});
}

TEST(VerifierServiceTest, ReflectionListsTheService) {
  Fixture f;
  auto channel = grpc::CreateChannel(f.server->target(), grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  auto call =
      stub.PrepareCall(&ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag;
  bool ok;
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  // ServerReflectionRequest{list_services: ""}: field 7, length-delimited, empty.
  grpc::Slice slice(std::string("\x3a\x00", 2));
  grpc::ByteBuffer req(&slice, 1);
  call->Write(req, reinterpret_cast<void*>(2));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  grpc::ByteBuffer resp;
  call->Read(&resp, reinterpret_cast<void*>(3));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  call->WritesDone(reinterpret_cast<void*>(4));
  ASSERT_TRUE(cq.Next(&tag, &ok));
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  ASSERT_TRUE(cq.Next(&tag, &ok));
  // ServerReflectionResponse.list_services_response (6) -> service (1) -> name (1).
  std::set<std::string> names;
  for (const std::string& list : Fields(ToString(resp), 6)) {
    for (const std::string& service : Fields(list, 1)) {
      for (const std::string& name : Fields(service, 1)) names.insert(name);
    }
  }
  EXPECT_EQ(names.count(kVerifierServiceName), 1u);
  EXPECT_EQ(names.count("grpc.health.v1.Health"), 1u);
}

TEST(VerifierServiceTest, OverloadIsResourceExhausted) {
  Fixture f({.num_threads = 1, .max_pending_items = 4});
  auto slow = Client(f.server->target());
  std::thread filler([&] {
    std::vector<VerifyRequest> batch(4, Req("s", "1", "1", {{"sleep_ms", 300}}));
    EXPECT_TRUE(slow->VerifyBatch(batch).ok());
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  RemoteVerifierOptions o;
  o.max_attempts = 1;
  absl::StatusOr<Reward> r = Client(f.server->target(), o)->Verify(Req("x", "1", "1"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("queue full"));
  // With retries the same call gets through once the queue drains.
  o.max_attempts = 20;
  o.initial_backoff = absl::Milliseconds(50);
  EXPECT_EQ(Client(f.server->target(), o)->Verify(Req("x", "1", "1"))->score, 1.0);
  filler.join();
  EXPECT_GE(f.server->stats().rejected_overload, 1);
  EXPECT_LE(f.server->stats().peak_pending_items, 4);
}

TEST(VerifierServiceTest, TokenIsChecked) {
  Fixture f({.token = "s3cret"});
  absl::StatusOr<Reward> r = Client(f.server->target())->Verify(Req("a", "1", "1"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  RemoteVerifierOptions wrong;
  wrong.token = "guess";
  EXPECT_EQ(Client(f.server->target(), wrong)->Verify(Req("a", "1", "1")).status().code(),
            absl::StatusCode::kUnauthenticated);
  RemoteVerifierOptions right;
  right.token = "s3cret";
  EXPECT_EQ(Client(f.server->target(), right)->Verify(Req("a", "1", "1"))->score, 1.0);
  EXPECT_EQ(f.server->stats().rejected_auth, 2);
}

TEST(VerifierServiceTest, ServerDownIsAnErrorNeverAZeroReward) {
  int port;
  {
    Fixture f;
    port = f.server->port();
  }
  const std::string target = absl::StrCat("127.0.0.1:", port);
  RemoteVerifierOptions o;
  o.max_attempts = 3;
  o.initial_backoff = absl::Milliseconds(20);
  absl::StatusOr<Reward> r = Client(target, o)->Verify(Req("a", "1", "1"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("after 3 attempts"));
  o.on_failure = RemoteVerifierOptions::OnFailure::kRetry;
  o.retry_deadline = absl::Milliseconds(500);
  r = Client(target, o)->Verify(Req("a", "1", "1"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("last error"));
}

TEST(VerifierServiceTest, ClientRetriesUntilLateServerStarts) {
  int port;
  {
    Fixture f;
    port = f.server->port();
  }
  RemoteVerifierOptions o;
  o.on_failure = RemoteVerifierOptions::OnFailure::kRetry;
  o.retry_deadline = absl::Seconds(20);
  o.initial_backoff = absl::Milliseconds(50);
  o.max_backoff = absl::Milliseconds(200);
  auto client = Client(absl::StrCat("127.0.0.1:", port), o);
  absl::StatusOr<Reward> r;
  std::thread caller([&] { r = client->Verify(Req("late", "1", "1")); });
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  Fixture late({.port = port});
  caller.join();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->score, 1.0);
}

TEST(VerifierServiceTest, LoadNoLostDuplicatedOrMismatchedResults) {
  Fixture f({.num_threads = 4, .max_pending_items = 4096});
  constexpr int kClients = 8, kRequests = 40, kBatch = 4;
  std::mutex mu;
  std::map<std::string, double> seen;
  int duplicates = 0, mismatched = 0, errors = 0;
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      auto client = Client(f.server->target());
      for (int m = 0; m < kRequests; ++m) {
        std::vector<VerifyRequest> batch;
        for (int b = 0; b < kBatch; ++b) {
          const int k = (c * kRequests + m) * kBatch + b;
          batch.push_back(Req(absl::StrCat("c", c, "-", k), std::to_string(k),
                              k % 3 == 0 ? std::to_string(k) : "other"));
        }
        auto results = client->VerifyBatch(batch);
        std::lock_guard<std::mutex> lock(mu);
        if (!results.ok()) {
          ++errors;
          continue;
        }
        for (int b = 0; b < kBatch; ++b) {
          const auto& r = (*results)[b];
          const int k = (c * kRequests + m) * kBatch + b;
          if (!r.ok() || r->details["echo"] != batch[b].id ||
              r->score != (k % 3 == 0 ? 1.0 : 0.0)) {
            ++mismatched;
          }
          if (!seen.emplace(batch[b].id, r.ok() ? r->score : -1).second) ++duplicates;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors, 0);
  EXPECT_EQ(duplicates, 0);
  EXPECT_EQ(mismatched, 0);
  EXPECT_EQ(seen.size(), static_cast<size_t>(kClients * kRequests * kBatch));
  EXPECT_EQ(f.server->stats().items, kClients * kRequests * kBatch);
}

TEST(VerifierServiceTest, MemoryBoundedUnderOverload) {
  Fixture f({.num_threads = 2, .max_pending_items = 16});
  constexpr int kClients = 16, kRequests = 10, kBatch = 8;
  std::atomic<int> ok{0}, exhausted{0}, other{0}, wrong{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      RemoteVerifierOptions o;
      o.max_attempts = 1;
      auto client = Client(f.server->target(), o);
      for (int m = 0; m < kRequests; ++m) {
        std::vector<VerifyRequest> batch;
        for (int b = 0; b < kBatch; ++b) {
          batch.push_back(
              Req(absl::StrCat(c, "-", m, "-", b), "a", b % 2 ? "a" : "b", {{"sleep_ms", 2}}));
        }
        auto results = client->VerifyBatch(batch);
        if (results.ok()) {
          ok++;
          for (int b = 0; b < kBatch; ++b) {
            if (!(*results)[b].ok() || (*results)[b]->score != (b % 2 ? 1.0 : 0.0)) wrong++;
          }
        } else if (results.status().code() == absl::StatusCode::kResourceExhausted) {
          exhausted++;
        } else {
          other++;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_GT(ok.load(), 0);
  EXPECT_GT(exhausted.load(), 0);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_LE(f.server->stats().peak_pending_items, 16);
  EXPECT_EQ(f.server->stats().items, ok.load() * kBatch);
}

}  // namespace
}  // namespace rlvr
