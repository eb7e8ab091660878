#include "eval/tensorboard_sink.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "core/status_macros.h"
#include "tensorboard_event.pb.h"

namespace rlvr {
namespace {

namespace fs = std::filesystem;
namespace tb = ::rlvr::tensorboard;

constexpr int kDtString = 7;

std::array<uint32_t, 256> MakeCrcTable() {
  // Reflected Castagnoli polynomial.
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return table;
}

double WallTime() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Markdown cells: pipes and newlines would break the table.
std::string Cell(const std::string& s, size_t max_chars = 400) {
  std::string t = s.size() > max_chars ? s.substr(0, max_chars) + "…" : s;
  return absl::StrReplaceAll(t, {{"|", "\\|"}, {"\n", "<br>"}, {"\r", ""}});
}

class TensorBoardSink final : public MetricsSink {
 public:
  TensorBoardSink(std::string path, std::ofstream out)
      : path_(std::move(path)), out_(std::move(out)) {}
  ~TensorBoardSink() override { out_.flush(); }

  absl::Status Init() {
    tb::Event e;
    e.set_wall_time(WallTime());
    e.set_file_version("brain.Event:2");
    return Write(e);
  }

  absl::Status AddScalars(const ScalarRecord& record) override {
    tb::Event e = NewEvent(record.step);
    for (const auto& [name, value] : record.values) {
      tb::Summary::Value* v = e.mutable_summary()->add_value();
      v->set_tag(absl::StrCat(record.phase, "/", name));
      v->set_simple_value(static_cast<float>(value));
    }
    return Write(e);
  }

  absl::Status AddHistogram(int64_t step, const std::string& tag,
                            const std::vector<double>& values) override {
    tb::Event e = NewEvent(step);
    tb::Summary::Value* v = e.mutable_summary()->add_value();
    v->set_tag(tag);
    tb::HistogramProto* h = v->mutable_histo();
    double sum = 0, sq = 0, lo = 0, hi = 0;
    int64_t n = 0;
    for (double x : values) {
      if (!std::isfinite(x)) continue;
      lo = n == 0 ? x : std::min(lo, x);
      hi = n == 0 ? x : std::max(hi, x);
      sum += x;
      sq += x * x;
      ++n;
    }
    h->set_min(lo);
    h->set_max(hi);
    h->set_num(static_cast<double>(n));
    h->set_sum(sum);
    h->set_sum_squares(sq);
    for (const auto& [limit, count] : Bucketize(values)) {
      h->add_bucket_limit(limit);
      h->add_bucket(static_cast<double>(count));
    }
    return Write(e);
  }

  absl::Status AddSamples(int64_t step, const std::string& tag,
                          const std::vector<TextSample>& samples) override {
    std::string md = "| task | verdict | reward | prompt | completion |\n|---|---|---|---|---|\n";
    for (const TextSample& s : samples) {
      absl::StrAppend(&md, "| ", Cell(s.task_id), " | ", Cell(s.verdict), " | ",
                      absl::StrFormat("%g", s.reward), " | ", Cell(s.prompt), " | ",
                      Cell(s.completion), " |\n");
    }
    tb::Event e = NewEvent(step);
    tb::Summary::Value* v = e.mutable_summary()->add_value();
    v->set_tag(tag);
    v->mutable_metadata()->mutable_plugin_data()->set_plugin_name("text");
    tb::TensorProto* t = v->mutable_tensor();
    t->set_dtype(kDtString);
    t->mutable_tensor_shape();  // a scalar string: no dims
    t->add_string_val(md);
    return Write(e);
  }

  absl::Status Flush() override {
    out_.flush();
    if (!out_) return absl::DataLossError(absl::StrCat(path_, ": cannot write"));
    return absl::OkStatus();
  }

 private:
  static tb::Event NewEvent(int64_t step) {
    tb::Event e;
    e.set_wall_time(WallTime());
    e.set_step(step);
    return e;
  }

  // TFRecord: uint64 length, masked crc32c(length), data, masked crc32c(data); all
  // little-endian.
  absl::Status Write(const tb::Event& event) {
    std::string data;
    if (!event.SerializeToString(&data)) {
      return absl::InternalError(absl::StrCat(path_, ": cannot serialise an event"));
    }
    char header[8];
    uint64_t len = data.size();
    for (int i = 0; i < 8; ++i) header[i] = static_cast<char>((len >> (8 * i)) & 0xff);
    auto put32 = [&](uint32_t v) {
      char b[4];
      for (int i = 0; i < 4; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
      out_.write(b, 4);
    };
    out_.write(header, 8);
    put32(MaskedCrc32c(absl::string_view(header, 8)));
    out_.write(data.data(), static_cast<std::streamsize>(data.size()));
    put32(MaskedCrc32c(data));
    out_.flush();  // tensorboard reads the file while training runs
    if (!out_) return absl::DataLossError(absl::StrCat(path_, ": cannot write"));
    return absl::OkStatus();
  }

  std::string path_;
  std::ofstream out_;
};

}  // namespace

uint32_t Crc32c(absl::string_view data) {
  static const std::array<uint32_t, 256> table = MakeCrcTable();
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : data) c = table[(c ^ b) & 0xff] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

uint32_t MaskedCrc32c(absl::string_view data) {
  const uint32_t crc = Crc32c(data);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

absl::StatusOr<std::unique_ptr<MetricsSink>> OpenTensorBoardSink(const std::string& logdir) {
  std::error_code ec;
  fs::create_directories(logdir, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat(logdir, ": ", ec.message()));
  char host[256] = "localhost";
  gethostname(host, sizeof(host) - 1);
  // The pid keeps two writers started within one second apart.
  const std::string path =
      (fs::path(logdir) / absl::StrFormat("events.out.tfevents.%d.%s.%d",
                                          static_cast<int64_t>(WallTime()), host, getpid()))
          .string();
  std::ofstream out(path, std::ios::binary | std::ios::app);
  if (!out) return absl::PermissionDeniedError(absl::StrCat(path, ": cannot create"));
  auto sink = std::make_unique<TensorBoardSink>(path, std::move(out));
  RETURN_IF_ERROR(sink->Init());
  return std::unique_ptr<MetricsSink>(std::move(sink));
}

}  // namespace rlvr
