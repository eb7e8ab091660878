// RolloutService on a real loopback port: generate stream, weight update with
// checksum, status, health, bad requests, cancellation.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <thread>

#include <zlib.h>

#include <torch/torch.h>

#include "gtest/gtest.h"
#include "rollout.grpc.pb.h"
#include "rollout/engine.h"
#include "rollout/service/client.h"
#include "rollout/service/convert.h"
#include "rollout/service/server.h"
#include "tests/test_util.h"

namespace rlvr {
namespace {

namespace pb = rlvr::rollout::v1;
using rlvr::test_util::TinyQwen3Config;

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto model = Transformer::RandomInit(TinyQwen3Config(), 0, {});
    ASSERT_TRUE(model.ok());
    EngineOptions options;
    options.max_batch = 4;
    auto engine = Engine::Create(std::move(*model), std::nullopt, options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = std::move(*engine);
    auto server = RolloutServer::Start(engine_.get(), {});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    target_ = "127.0.0.1:" + std::to_string(server_->port());
    auto client = RolloutClient::Connect(target_, {.chunk_bytes = 1000});
    ASSERT_TRUE(client.ok());
    client_ = std::move(*client);
    stub_ = pb::RolloutService::NewStub(
        grpc::CreateChannel(target_, grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    server_.reset();
    engine_.reset();
  }

  grpc::Status RawGenerate(const pb::GenerateRequest& request) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    auto reader = stub_->Generate(&ctx, request);
    pb::GenerateResponse response;
    while (reader->Read(&response)) {
    }
    return reader->Finish();
  }

  static GenerationRequest Greedy(std::vector<int32_t> prompt, int64_t max_new, int64_t n = 1) {
    GenerationRequest r;
    r.prompt_ids = std::move(prompt);
    r.n = n;
    r.sampling.temperature = 0;
    r.sampling.max_new_tokens = max_new;
    r.sampling.ignore_eos = true;
    return r;
  }

  std::unique_ptr<Engine> engine_;
  std::unique_ptr<RolloutServer> server_;
  std::unique_ptr<RolloutClient> client_;
  std::unique_ptr<pb::RolloutService::Stub> stub_;
  std::string target_;
};

TEST_F(ServiceTest, GenerateStreamsTheSameAsInProcess) {
  std::vector<GenerationRequest> requests = {Greedy({1, 2, 3}, 7, 2), Greedy({5, 6}, 4)};
  std::vector<Completion> streamed;
  ASSERT_TRUE(
      client_->GenerateStream(requests, [&](Completion c) { streamed.push_back(std::move(c)); })
          .ok());
  ASSERT_EQ(streamed.size(), 3u);
  auto local = engine_->Generate(requests);
  auto remote = client_->Generate(requests);
  ASSERT_TRUE(local.ok() && remote.ok());
  for (size_t i = 0; i < local->size(); ++i) {
    EXPECT_EQ((*remote)[i].token_ids, (*local)[i].token_ids);
    EXPECT_EQ((*remote)[i].logprobs, (*local)[i].logprobs);
    EXPECT_EQ((*remote)[i].request_index, (*local)[i].request_index);
  }
}

TEST_F(ServiceTest, UpdateWeightsWithChecksum) {
  auto next = Transformer::RandomInit(TinyQwen3Config(), 99, {});
  ASSERT_TRUE(next.ok());
  auto before = client_->Generate({Greedy({1, 2, 3}, 6)});
  ASSERT_TRUE(client_->UpdateWeights(3, next->NamedParameters()).ok());
  auto status = client_->GetStatus();
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->policy_version, 3);
  auto after = client_->Generate({Greedy({1, 2, 3}, 6)});
  ASSERT_TRUE(after.ok());
  EXPECT_EQ((*after)[0].policy_version, 3);
  auto expected = Engine::Create(std::move(*next), std::nullopt, {});
  EXPECT_EQ((*after)[0].token_ids, (*(*expected)->Generate({Greedy({1, 2, 3}, 6)}))[0].token_ids);

  // A chunk whose bytes do not match its checksum is refused; nothing changes.
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  pb::UpdateWeightsResponse response;
  auto writer = stub_->UpdateWeights(&ctx, &response);
  pb::WeightChunk chunk;
  chunk.set_version(4);
  chunk.set_name("model.norm.weight");
  chunk.set_dtype("float32");
  chunk.add_shape(32);
  chunk.set_total_bytes(128);
  chunk.set_crc32(12345);
  chunk.set_data(std::string(128, '\0'));
  writer->Write(chunk);
  writer->WritesDone();
  grpc::Status s = writer->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DATA_LOSS) << s.error_message();
  EXPECT_NE(s.error_message().find("model.norm.weight"), std::string::npos);
  EXPECT_EQ(client_->GetStatus()->policy_version, 3);
}

TEST_F(ServiceTest, RepeatedUpdatesReuseNoStaleBytes) {
  // The server reuses its receive buffers between updates: every update must still
  // install exactly the bytes sent.
  for (uint64_t seed : {7, 8, 7}) {
    auto next = Transformer::RandomInit(TinyQwen3Config(), seed, {});
    ASSERT_TRUE(next.ok());
    ASSERT_TRUE(
        client_->UpdateWeights(static_cast<int64_t>(seed) + 10, next->NamedParameters()).ok());
    auto after = client_->Generate({Greedy({4, 5, 6}, 6)});
    ASSERT_TRUE(after.ok());
    auto expected = Engine::Create(std::move(*next), std::nullopt, {});
    EXPECT_EQ((*after)[0].token_ids, (*(*expected)->Generate({Greedy({4, 5, 6}, 6)}))[0].token_ids)
        << "seed " << seed;
  }
}

TEST(WeightWireTest, Crc32IsZlibs) {
  std::string bytes(3 << 20, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 131 + i / 7);
  for (size_t n : {size_t{0}, size_t{1}, size_t{15}, size_t{4097}, bytes.size()}) {
    const auto* data = reinterpret_cast<const Bytef*>(bytes.data());
    EXPECT_EQ(rollout_internal::Crc32(bytes.data(), n), crc32(0, data, static_cast<uInt>(n))) << n;
  }
  // Chained over pieces, as the server computes it.
  EXPECT_EQ(
      rollout_internal::Crc32(bytes.data() + 100, 900, rollout_internal::Crc32(bytes.data(), 100)),
      rollout_internal::Crc32(bytes.data(), 1000));
}

TEST(WeightWireTest, PrefixPlusDataIsTheProtobufMessage) {
  for (size_t n : {size_t{0}, size_t{5}, size_t{127}, size_t{128}, size_t{300000}}) {
    pb::WeightChunk chunk;
    chunk.set_version(12);
    chunk.set_name("model.layers.0.mlp.up_proj.weight");
    chunk.set_dtype("bfloat16");
    chunk.add_shape(3);
    chunk.add_shape(7);
    chunk.set_total_bytes(42);
    chunk.set_crc32(0xdeadbeef);
    chunk.set_offset(1 << 20);
    const std::string data(n, 'x');
    const std::string wire = rollout_internal::WeightChunkPrefix(chunk, n) + data;
    pb::WeightChunk full = chunk;
    full.set_data(data);
    // proto3 leaves an empty bytes field out; the prefix always carries it.
    if (n > 0) EXPECT_EQ(wire, full.SerializeAsString()) << n;
    pb::WeightChunk parsed;
    ASSERT_TRUE(parsed.ParseFromString(wire));
    EXPECT_EQ(parsed.data(), data);
    EXPECT_EQ(parsed.name(), chunk.name());
  }
}

TEST_F(ServiceTest, StatusAndHealth) {
  auto status = client_->GetStatus();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->kv_slots_total, 4);
  EXPECT_EQ(status->running_sequences, 0);
  // grpc.health.v1.Health/Check with an empty request (service ""): the reply
  // HealthCheckResponse{status: SERVING} is the two bytes 08 01.
  auto channel = grpc::CreateChannel(target_, grpc::InsecureChannelCredentials());
  grpc::GenericStub generic(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Slice empty(std::string(""));
  grpc::ByteBuffer request(&empty, 1), response;
  grpc::Status result;
  absl::Mutex mu;
  bool done = false;
  generic.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &response,
                    [&](grpc::Status s) {
                      absl::MutexLock l(&mu);
                      result = s;
                      done = true;
                    });
  {
    absl::MutexLock l(&mu);
    mu.Await(absl::Condition(&done));
  }
  ASSERT_TRUE(result.ok()) << result.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (auto& sl : slices)
    bytes += std::string(reinterpret_cast<const char*>(sl.begin()), sl.size());
  EXPECT_EQ(bytes, std::string("\x08\x01", 2));
}

TEST_F(ServiceTest, BadRequestsNameTheFieldAndServingContinues) {
  auto make = [] {
    pb::GenerateRequest r;
    pb::Prompt* p = r.add_prompts();
    p->add_token_ids(1);
    p->add_token_ids(2);
    p->set_n(1);
    r.mutable_sampling()->set_max_new_tokens(3);
    return r;
  };
  struct Case {
    std::function<void(pb::GenerateRequest&)> mutate;
    std::string field;
  };
  std::vector<Case> cases = {
      {[](pb::GenerateRequest& r) { r.mutable_prompts(0)->clear_token_ids(); }, "prompt"},
      {[](pb::GenerateRequest& r) {
         for (int i = 0; i < 2000; ++i) r.mutable_prompts(0)->add_token_ids(1);
       },
       "prompt"},
      {[](pb::GenerateRequest& r) { r.mutable_prompts(0)->set_n(0); }, "n "},
      {[](pb::GenerateRequest& r) { r.mutable_sampling()->set_top_p(0); }, "top_p"},
      {[](pb::GenerateRequest& r) { r.mutable_sampling()->set_top_p(1.5); }, "top_p"},
      {[](pb::GenerateRequest& r) { r.mutable_sampling()->set_temperature(-0.5); }, "temperature"},
      {[](pb::GenerateRequest& r) {
         pb::SamplingParams* sp = r.mutable_prompts(0)->mutable_sampling();
         sp->GetReflection()->MutableUnknownFields(sp)->AddVarint(77, 1);
       },
       "prompts[0].sampling: unknown field number 77"},
  };
  for (const Case& c : cases) {
    pb::GenerateRequest r = make();
    c.mutate(r);
    grpc::Status s = RawGenerate(r);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.field;
    EXPECT_NE(s.error_message().find(c.field), std::string::npos)
        << s.error_message() << " vs " << c.field;
    EXPECT_TRUE(RawGenerate(make()).ok());  // still serving
  }
}

TEST_F(ServiceTest, CancellationFreesSlots) {
  pb::GenerateRequest r;
  pb::Prompt* p = r.add_prompts();
  p->add_token_ids(1);
  p->set_n(6);
  r.mutable_sampling()->set_max_new_tokens(1000);
  r.mutable_sampling()->set_ignore_eos(true);
  grpc::ClientContext ctx;
  auto reader = stub_->Generate(&ctx, r);
  while (engine_->GetStatus().running_sequences == 0) std::this_thread::yield();
  ctx.TryCancel();
  pb::GenerateResponse response;
  while (reader->Read(&response)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  for (int i = 0; i < 500 && engine_->GetStatus().running_sequences > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EngineStatus st = engine_->GetStatus();
  EXPECT_EQ(st.running_sequences, 0);
  EXPECT_EQ(st.queued_samples, 0);
  // A deadline ends a call the same way.
  grpc::ClientContext short_ctx;
  short_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(100));
  auto r2 = stub_->Generate(&short_ctx, r);
  while (r2->Read(&response)) {
  }
  EXPECT_EQ(r2->Finish().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  for (int i = 0; i < 500 && engine_->GetStatus().running_sequences > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(engine_->GetStatus().running_sequences, 0);
}

}  // namespace
}  // namespace rlvr
