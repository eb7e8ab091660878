#include "core/model.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <filesystem>
#include <fstream>
#include <set>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "core/cpu_kernels.h"
#include "core/packed_linear.h"
#include "core/safetensors.h"
#include "core/safetensors_torch.h"
#include "core/skinny_gemm.h"
#include "core/status_macros.h"
#include "core/train_kernels.h"
#include "nlohmann/json.hpp"

namespace rlvr {
namespace {

namespace fs = std::filesystem;
using torch::Tensor;
using torch::indexing::Slice;

// Parameters of one decoder layer; undefined tensors are absent (no bias, no q/k norm).
struct Layer {
  Tensor input_norm, post_norm;       // (H)
  Tensor q_w, q_b;                    // (Hq*D, H), (Hq*D)
  Tensor k_w, k_b, v_w, v_b;          // (Hkv*D, H), (Hkv*D)
  Tensor o_w, o_b;                    // (H, Hq*D), (H)
  Tensor q_norm, k_norm;              // (D)
  Tensor gate_w, gate_b, up_w, up_b;  // (I, H), (I)
  // Inference-only models keep q/k/v and gate/up in one matrix each (the
  // tensors above are row views into these), so a layer does 4 matmuls, not 7.
  Tensor qkv_w, qkv_b;          // ((Hq+2Hkv)*D, H), ((Hq+2Hkv)*D)
  Tensor gate_up_w, gate_up_b;  // (2I, H), (2I)
  Tensor down_w, down_b;        // (H, I), (H)
};

std::string ShapeString(c10::IntArrayRef shape) {
  return absl::StrCat("[", absl::StrJoin(shape.vec(), ", "), "]");
}

const char* DtypeConfigName(torch::ScalarType dtype) {
  switch (dtype) {
    case torch::kBFloat16:
      return "bfloat16";
    case torch::kFloat16:
      return "float16";
    default:
      return "float32";
  }
}

Tensor Linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  return b.defined() ? at::linear(x, w, b) : at::linear(x, w);
}

// HF RMSNorm: normalise in float32, cast back, then scale. One fused pass
// forward and backward for CPU float32 (train_kernels.h).
Tensor RmsNorm(const Tensor& x, const Tensor& weight, double eps) {
  if (train::UseFusedCpu(x, weight)) return train::FusedRmsNorm(x, weight, eps);
  Tensor xf = x.to(torch::kFloat32);
  Tensor normed = xf * torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return weight * normed.to(x.scalar_type());
}

// SwiGLU: silu(gate) * up, fused for CPU float32 (train_kernels.h).
Tensor SiluMul(const Tensor& gate, const Tensor& up) {
  if (train::UseFusedCpu(gate, up)) return train::FusedSiluMul(gate, up);
  return torch::silu(gate) * up;
}

// rotate_half(x) = cat(-x2, x1) over the last dim.
Tensor RotateHalf(const Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

// x * cos + rotate_half(x) * sin for x (B, T, H, D) and cos, sin (B, T, 1, D);
// one fused pass forward and backward for CPU float32 (train_kernels.h).
Tensor ApplyRope(const Tensor& x, const Tensor& cos, const Tensor& sin) {
  if (train::UseFusedCpu(x, cos) && train::UseFusedCpu(x, sin) && x.size(-1) % 2 == 0 &&
      !cos.requires_grad() && !sin.requires_grad()) {
    return train::FusedRope(x, cos, sin);
  }
  return x * cos + RotateHalf(x) * sin;
}

absl::Status TorchError(const std::string& where, const std::exception& e) {
  std::string what = e.what();
  // c10::Error carries a stack trace after the first line; keep the message.
  auto nl = what.find('\n');
  if (nl != std::string::npos) what.resize(nl);
  return absl::InternalError(absl::StrCat(where, ": ", what));
}

// log p(target) and entropy of softmax(h W^T / temperature), chunk by chunk
// over the rows. The forward pass keeps the (chunk, V) log-softmax of the first
// chunks for the backward pass while they fit in `save_bytes`; the backward pass
// recomputes the logits of the others. So at most save_bytes of log-softmax plus
// one (chunk, V) block of logits (and its softmax) exist at any time.
class ChunkedLogprobs : public torch::autograd::Function<ChunkedLogprobs> {
 public:
  // hidden: (N, H); weight: (V, H); targets: (N) int64.
  // Returns {logprobs (N) float32, entropy (N) float32 (zeros unless with_entropy)}.
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                const Tensor& hidden, const Tensor& weight,
                                                const Tensor& targets, double temperature,
                                                int64_t chunk, bool with_entropy,
                                                int64_t save_bytes) {
    const int64_t n = hidden.size(0), vocab = weight.size(0);
    auto f32 = hidden.options().dtype(torch::kFloat32);
    Tensor logprobs = torch::empty({n}, f32);
    Tensor entropy = torch::zeros({n}, f32);
    std::vector<Tensor> to_save = {hidden, weight, targets};
    int64_t saved = 0;
    for (int64_t s = 0; s < n; s += chunk) {
      const int64_t len = std::min(chunk, n - s);
      Tensor logp = ChunkLogSoftmax(hidden.narrow(0, s, len), weight, temperature);  // (len, V)
      Tensor t = targets.narrow(0, s, len).unsqueeze(1);
      logprobs.narrow(0, s, len).copy_(logp.gather(1, t).squeeze(1));
      if (with_entropy) entropy.narrow(0, s, len).copy_(-(logp.exp() * logp).sum(-1));
      const int64_t bytes = len * vocab * static_cast<int64_t>(sizeof(float));
      if (saved + bytes <= save_bytes && static_cast<int64_t>(to_save.size()) == 3 + s / chunk) {
        to_save.push_back(logp);
        saved += bytes;
      }
    }
    ctx->saved_data["saved_chunks"] = static_cast<int64_t>(to_save.size() - 3);
    ctx->save_for_backward(to_save);
    ctx->saved_data["temperature"] = temperature;
    ctx->saved_data["chunk"] = chunk;
    ctx->saved_data["with_entropy"] = with_entropy;
    ctx->mark_non_differentiable(with_entropy ? torch::autograd::variable_list{}
                                              : torch::autograd::variable_list{entropy});
    return {logprobs, entropy};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const Tensor& hidden = saved[0];
    const Tensor& weight = saved[1];
    const Tensor& targets = saved[2];
    const int64_t saved_chunks = ctx->saved_data["saved_chunks"].toInt();
    const double temperature = ctx->saved_data["temperature"].toDouble();
    const int64_t chunk = ctx->saved_data["chunk"].toInt();
    const bool with_entropy = ctx->saved_data["with_entropy"].toBool();
    Tensor g_lp = grads[0];
    Tensor g_ent = with_entropy ? grads[1] : Tensor();
    const bool need_h = ctx->needs_input_grad(0);
    const bool need_w = ctx->needs_input_grad(1);
    const int64_t n = hidden.size(0);
    Tensor grad_h = need_h ? torch::empty_like(hidden) : Tensor();
    Tensor grad_w =
        need_w ? torch::zeros(weight.sizes(), weight.options().dtype(torch::kFloat32)) : Tensor();
    for (int64_t s = 0; s < n; s += chunk) {
      const int64_t len = std::min(chunk, n - s);
      Tensor h = hidden.narrow(0, s, len);
      const int64_t c = s / chunk;
      Tensor logp = c < saved_chunks ? saved[3 + c] : ChunkLogSoftmax(h, weight, temperature);
      // d logp_t / dz = onehot(t) - p; the softmax p is written over a recomputed logp.
      Tensor p = c < saved_chunks ? logp.exp() : Tensor();
      Tensor g;  // (len, V) gradient with respect to the logits z / temperature
      if (g_ent.defined()) {
        if (!p.defined()) p = logp.exp();
        // H = -sum(p logp); dH/dz_j = -p_j (logp_j + H).
        Tensor ent = -(p * logp).sum(-1, /*keepdim=*/true);
        Tensor ge = g_ent.narrow(0, s, len).unsqueeze(1).to(torch::kFloat32);
        g = -ge * p * (logp + ent);
      }
      if (g_lp.defined()) {
        Tensor gl = g_lp.narrow(0, s, len).unsqueeze(1).to(torch::kFloat32);
        if (g.defined()) {
          g.sub_(p * gl);
        } else {
          g = p.defined() ? p.mul_(-gl) : logp.exp_().mul_(-gl);
        }
        g.scatter_add_(1, targets.narrow(0, s, len).unsqueeze(1), gl);
      }
      if (!g.defined())
        g = torch::zeros({len, weight.size(0)}, hidden.options().dtype(torch::kFloat32));
      if (temperature != 1.0) g.div_(temperature);
      if (need_h) grad_h.narrow(0, s, len).copy_(torch::matmul(g.to(weight.scalar_type()), weight));
      if (need_w) grad_w.addmm_(g.t(), h.to(torch::kFloat32));
    }
    return {grad_h,   need_w ? grad_w.to(weight.scalar_type()) : Tensor(),
            Tensor(), Tensor(),
            Tensor(), Tensor(),
            Tensor()};
  }

 private:
  // log_softmax(h W^T / temperature) in float32: (len, V).
  static Tensor ChunkLogSoftmax(const Tensor& h, const Tensor& weight, double temperature) {
    Tensor logits = torch::matmul(h, weight.t()).to(torch::kFloat32);
    if (temperature != 1.0) logits.div_(temperature);
    return torch::log_softmax(logits, -1);
  }
};

}  // namespace

struct Transformer::Impl {
  ModelConfig config;
  ModelOptions options;
  // Every parameter in checkpoint order, HF names; the fields below alias these.
  std::vector<std::pair<std::string, Tensor>> params;
  Tensor embed;  // (V, H)
  std::vector<Layer> layers;
  Tensor final_norm;  // (H)
  Tensor lm_head;     // (V, H); the embedding when tied
  Tensor inv_freq;    // (D/2) float32, for positions below max_position_embeddings

  // Prepacked copies of the matmul weights for the fused CPU decoding path,
  // made on first use and dropped by LoadNamedTensors (see FusedDecoding()).
  struct PackedWeight {
    Tensor onednn;  // packed_linear.h; where the CPU lacks AVX-512
    Tensor panels;  // skinny_gemm.h
  };
  struct PackedLayer {
    PackedWeight qkv, o, gate_up, down;
  };
  struct Packed {
    std::vector<PackedLayer> layers;
    PackedWeight head;
  };
  mutable absl::Mutex pack_mu;
  mutable std::shared_ptr<const Packed> packed ABSL_GUARDED_BY(pack_mu);

  // (name, shape) of every parameter, in checkpoint order.
  static std::vector<std::pair<std::string, std::vector<int64_t>>> Spec(const ModelConfig& c) {
    std::vector<std::pair<std::string, std::vector<int64_t>>> spec;
    const int64_t H = c.hidden_size, D = c.head_dim, I = c.intermediate_size;
    const int64_t q = c.num_attention_heads * D, kv = c.num_key_value_heads * D;
    spec.push_back({"model.embed_tokens.weight", {c.vocab_size, H}});
    for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
      const std::string p = absl::StrCat("model.layers.", i, ".");
      spec.push_back({p + "input_layernorm.weight", {H}});
      spec.push_back({p + "self_attn.q_proj.weight", {q, H}});
      if (c.qkv_bias) spec.push_back({p + "self_attn.q_proj.bias", {q}});
      spec.push_back({p + "self_attn.k_proj.weight", {kv, H}});
      if (c.qkv_bias) spec.push_back({p + "self_attn.k_proj.bias", {kv}});
      spec.push_back({p + "self_attn.v_proj.weight", {kv, H}});
      if (c.qkv_bias) spec.push_back({p + "self_attn.v_proj.bias", {kv}});
      spec.push_back({p + "self_attn.o_proj.weight", {H, q}});
      if (c.o_bias) spec.push_back({p + "self_attn.o_proj.bias", {H}});
      if (c.qk_norm) {
        spec.push_back({p + "self_attn.q_norm.weight", {D}});
        spec.push_back({p + "self_attn.k_norm.weight", {D}});
      }
      spec.push_back({p + "post_attention_layernorm.weight", {H}});
      spec.push_back({p + "mlp.gate_proj.weight", {I, H}});
      if (c.mlp_bias) spec.push_back({p + "mlp.gate_proj.bias", {I}});
      spec.push_back({p + "mlp.up_proj.weight", {I, H}});
      if (c.mlp_bias) spec.push_back({p + "mlp.up_proj.bias", {I}});
      spec.push_back({p + "mlp.down_proj.weight", {H, I}});
      if (c.mlp_bias) spec.push_back({p + "mlp.down_proj.bias", {H}});
    }
    spec.push_back({"model.norm.weight", {H}});
    if (!c.tie_word_embeddings) spec.push_back({"lm_head.weight", {c.vocab_size, H}});
    return spec;
  }

  // Points the named fields at `params` (which must follow Spec()).
  void Bind() {
    std::map<std::string, Tensor> by_name(params.begin(), params.end());
    auto get = [&](const std::string& name) {
      auto it = by_name.find(name);
      return it == by_name.end() ? Tensor() : it->second;
    };
    embed = get("model.embed_tokens.weight");
    layers.assign(config.num_hidden_layers, Layer());
    for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
      const std::string p = absl::StrCat("model.layers.", i, ".");
      Layer& l = layers[i];
      l.input_norm = get(p + "input_layernorm.weight");
      l.post_norm = get(p + "post_attention_layernorm.weight");
      l.q_w = get(p + "self_attn.q_proj.weight");
      l.q_b = get(p + "self_attn.q_proj.bias");
      l.k_w = get(p + "self_attn.k_proj.weight");
      l.k_b = get(p + "self_attn.k_proj.bias");
      l.v_w = get(p + "self_attn.v_proj.weight");
      l.v_b = get(p + "self_attn.v_proj.bias");
      l.o_w = get(p + "self_attn.o_proj.weight");
      l.o_b = get(p + "self_attn.o_proj.bias");
      l.q_norm = get(p + "self_attn.q_norm.weight");
      l.k_norm = get(p + "self_attn.k_norm.weight");
      l.gate_w = get(p + "mlp.gate_proj.weight");
      l.gate_b = get(p + "mlp.gate_proj.bias");
      l.up_w = get(p + "mlp.up_proj.weight");
      l.up_b = get(p + "mlp.up_proj.bias");
      l.down_w = get(p + "mlp.down_proj.weight");
      l.down_b = get(p + "mlp.down_proj.bias");
    }
    final_norm = get("model.norm.weight");
    lm_head = config.tie_word_embeddings ? embed : get("lm_head.weight");
    inv_freq = InvFreq(config.max_position_embeddings);
    if (!options.requires_grad) Fuse();
  }

  // Replaces the parameters `names` (row blocks of one matrix) by views into
  // their concatenation, which it returns.
  Tensor FuseRows(const std::vector<std::string>& names, std::vector<Tensor*> fields) {
    std::vector<Tensor> parts;
    for (Tensor* f : fields) parts.push_back(*f);
    Tensor fused = torch::cat(parts, 0);
    int64_t row = 0;
    for (size_t i = 0; i < fields.size(); ++i) {
      const int64_t rows = fields[i]->size(0);
      *fields[i] = fused.narrow(0, row, rows);
      for (auto& [name, t] : params) {
        if (name == names[i]) t = *fields[i];
      }
      row += rows;
    }
    return fused;
  }

  void Fuse() {
    for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
      const std::string p = absl::StrCat("model.layers.", i, ".");
      Layer& l = layers[i];
      l.qkv_w = FuseRows({p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight",
                          p + "self_attn.v_proj.weight"},
                         {&l.q_w, &l.k_w, &l.v_w});
      if (config.qkv_bias) {
        l.qkv_b = FuseRows(
            {p + "self_attn.q_proj.bias", p + "self_attn.k_proj.bias", p + "self_attn.v_proj.bias"},
            {&l.q_b, &l.k_b, &l.v_b});
      }
      l.gate_up_w =
          FuseRows({p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight"}, {&l.gate_w, &l.up_w});
      if (config.mlp_bias) {
        l.gate_up_b =
            FuseRows({p + "mlp.gate_proj.bias", p + "mlp.up_proj.bias"}, {&l.gate_b, &l.up_b});
      }
    }
  }

  // RoPE inverse frequencies (D/2) float32 for sequences of `seq_len` tokens
  // (only dynamic NTK depends on it), as transformers computes them.
  Tensor InvFreq(int64_t seq_len) const {
    const RopeConfig& rope = config.rope;
    const int64_t dim = config.head_dim;
    double base = rope.theta;
    if (rope.type == "dynamic" && seq_len > config.max_position_embeddings) {
      base = base *
             std::pow(rope.factor * seq_len / config.max_position_embeddings - (rope.factor - 1),
                      static_cast<double>(dim) / (dim - 2));
    }
    Tensor exponent = torch::arange(0, dim, 2, torch::kInt64).to(torch::kFloat32) / dim;
    Tensor inv = 1.0 / torch::pow(torch::tensor(base, torch::kFloat32), exponent);
    if (rope.type == "linear") inv = inv / rope.factor;
    if (rope.type == "llama3") {
      const double old_len = rope.original_max_position_embeddings;
      const double low_wavelen = old_len / rope.low_freq_factor;
      const double high_wavelen = old_len / rope.high_freq_factor;
      Tensor wavelen = 2 * M_PI / inv;
      Tensor scaled = torch::where(wavelen > low_wavelen, inv / rope.factor, inv);
      Tensor smooth = (old_len / wavelen - rope.low_freq_factor) /
                      (rope.high_freq_factor - rope.low_freq_factor);
      Tensor smoothed = (1 - smooth) * scaled / rope.factor + smooth * scaled;
      Tensor medium = (wavelen >= high_wavelen).logical_and(wavelen <= low_wavelen);
      inv = torch::where(medium, smoothed, scaled);
    }
    return inv.to(options.device);
  }

  // cos, sin: (B, T, 1, D) in the model dtype for positions (B, T) int64.
  std::pair<Tensor, Tensor> Rope(const Tensor& positions, int64_t max_position) const {
    Tensor inv = inv_freq;
    if (config.rope.type == "dynamic" && max_position + 1 > config.max_position_embeddings) {
      inv = InvFreq(max_position + 1);
    }
    Tensor freqs = positions.to(torch::kFloat32).unsqueeze(-1) * inv;  // (B, T, D/2)
    Tensor emb = torch::cat({freqs, freqs}, -1).unsqueeze(2);
    return {emb.cos().to(options.dtype), emb.sin().to(options.dtype)};
  }

  // q, k, v for x (B, T, H): q (B, T, Hq, D), k and v (B, T, Hkv, D), with
  // q/k norm and RoPE applied.
  void Qkv(const Layer& l, const Tensor& x, const Tensor& cos, const Tensor& sin, Tensor* q,
           Tensor* k, Tensor* v) const {
    const int64_t B = x.size(0), T = x.size(1), D = config.head_dim;
    const int64_t hq = config.num_attention_heads, hkv = config.num_key_value_heads;
    if (l.qkv_w.defined()) {
      Tensor qkv = Linear(x, l.qkv_w, l.qkv_b).view({B, T, hq + 2 * hkv, D});
      *q = qkv.narrow(2, 0, hq);
      *k = qkv.narrow(2, hq, hkv);
      *v = qkv.narrow(2, hq + hkv, hkv);
    } else {
      *q = Linear(x, l.q_w, l.q_b).view({B, T, hq, D});
      *k = Linear(x, l.k_w, l.k_b).view({B, T, hkv, D});
      *v = Linear(x, l.v_w, l.v_b).view({B, T, hkv, D});
    }
    if (config.qk_norm) {
      *q = RmsNorm(*q, l.q_norm, config.rms_norm_eps);
      *k = RmsNorm(*k, l.k_norm, config.rms_norm_eps);
    }
    *q = ApplyRope(*q, cos, sin);
    *k = ApplyRope(*k, cos, sin);
  }

  Tensor Mlp(const Layer& l, const Tensor& x) const {
    if (l.gate_up_w.defined()) {
      Tensor gate_up = Linear(x, l.gate_up_w, l.gate_up_b);
      const int64_t I = config.intermediate_size;
      return Linear(SiluMul(gate_up.narrow(-1, 0, I), gate_up.narrow(-1, I, I)), l.down_w,
                    l.down_b);
    }
    Tensor gate = Linear(x, l.gate_w, l.gate_b);
    Tensor up = Linear(x, l.up_w, l.up_b);
    return Linear(SiluMul(gate, up), l.down_w, l.down_b);
  }

  // Attention of q (B, Hq, Tq, D) over k, v (B, Hkv, Tk, D); mask (B, 1, Tq, Tk)
  // bool (true = attend) or undefined with `causal`. Returns (B, Tq, Hq*D).
  Tensor Attend(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                bool causal) const {
    const bool gqa = config.num_attention_heads != config.num_key_value_heads;
    Tensor out = at::scaled_dot_product_attention(
        q, k, v, mask.defined() ? std::optional<Tensor>(mask) : std::nullopt, 0.0,
        causal && !mask.defined(), 1.0 / std::sqrt(static_cast<double>(config.head_dim)), gqa);
    return out.transpose(1, 2).reshape({q.size(0), q.size(2), -1});
  }

  // Full forward to the final norm: (B, T, H).
  Tensor Hidden(const Tensor& input_ids, const Tensor& positions, const Tensor& mask) const {
    const int64_t max_position = positions.numel() ? positions.max().item<int64_t>() : 0;
    auto [cos, sin] = Rope(positions, max_position);
    Tensor x = embed.index_select(0, input_ids.reshape({-1}))
                   .view({input_ids.size(0), input_ids.size(1), config.hidden_size});
    for (const Layer& l : layers) {
      Tensor h = RmsNorm(x, l.input_norm, config.rms_norm_eps);
      Tensor q, k, v;
      Qkv(l, h, cos, sin, &q, &k, &v);
      Tensor attn = Attend(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), mask, true);
      x = x + Linear(attn, l.o_w, l.o_b);
      x = x + Mlp(l, RmsNorm(x, l.post_norm, config.rms_norm_eps));
    }
    return RmsNorm(x, final_norm, config.rms_norm_eps);
  }

  // Checks a batch and fills in default positions and the attention mask.
  absl::Status Prepare(const TokenBatch& batch, Tensor* positions, Tensor* mask) const {
    const Tensor& ids = batch.input_ids;
    if (!ids.defined() || ids.dim() != 2 || ids.scalar_type() != torch::kInt64) {
      return absl::InvalidArgumentError("input_ids must be a (B, T) int64 tensor");
    }
    if (ids.numel() > 0) {
      const int64_t lo = ids.min().item<int64_t>(), hi = ids.max().item<int64_t>();
      if (lo < 0 || hi >= config.vocab_size) {
        return absl::InvalidArgumentError(absl::StrCat("input_ids hold ", lo < 0 ? lo : hi,
                                                       ", outside [0, ", config.vocab_size, ")"));
      }
    }
    for (const auto& [name, t] :
         {std::pair<const char*, Tensor>{"position_ids", batch.position_ids},
          {"segment_ids", batch.segment_ids},
          {"parent_ids", batch.parent_ids}}) {
      if (t.defined() && (t.sizes() != ids.sizes() || t.scalar_type() != torch::kInt64)) {
        return absl::InvalidArgumentError(
            absl::StrCat(name, " must be int64 with the shape of input_ids ",
                         ShapeString(ids.sizes()), ", got ", ShapeString(t.sizes())));
      }
    }
    if (batch.parent_ids.defined() &&
        (!batch.segment_ids.defined() || !batch.position_ids.defined())) {
      return absl::InvalidArgumentError("parent_ids need segment_ids and position_ids");
    }
    const int64_t T = ids.size(1);
    Tensor idx = torch::arange(T, ids.options()).unsqueeze(0).expand_as(ids);
    if (batch.segment_ids.defined()) {
      Tensor seg = batch.segment_ids.to(options.device);
      // Block-diagonal causal: same segment (or the token's parent segment) and not in
      // the future.
      Tensor same = seg.unsqueeze(2) == seg.unsqueeze(1);  // (B, T, T)
      if (batch.parent_ids.defined()) {
        Tensor parent = batch.parent_ids.to(options.device).unsqueeze(2);  // (B, T, 1)
        same = same.logical_or((parent == seg.unsqueeze(1)).logical_and(parent >= 0));
      }
      Tensor causal = torch::ones({T, T}, seg.options().dtype(torch::kBool)).tril();  // (T, T)
      *mask = same.logical_and(causal).unsqueeze(1);
      if (!batch.position_ids.defined()) {
        // Position within each run of equal segment ids.
        Tensor starts = torch::ones_like(seg, torch::kBool);
        if (T > 1) {
          starts.index_put_({Slice(), Slice(1, torch::indexing::None)},
                            seg.index({Slice(), Slice(1, torch::indexing::None)}) !=
                                seg.index({Slice(), Slice(0, -1)}));
        }
        Tensor run_start = std::get<0>(torch::cummax(torch::where(starts, idx, 0), 1));
        *positions = idx - run_start;
      }
    }
    if (batch.position_ids.defined()) {
      *positions = batch.position_ids;
      if (positions->numel() > 0 && positions->min().item<int64_t>() < 0) {
        return absl::InvalidArgumentError("position_ids must be non-negative");
      }
    } else if (!positions->defined()) {
      *positions = idx;
    }
    *positions = positions->to(options.device);
    return absl::OkStatus();
  }

  Tensor Head(const Tensor& h) const { return torch::matmul(h, lm_head.t()).to(torch::kFloat32); }

  // Prefill, PrefillBatch and DecodeStep take the fused CPU path (cpu_kernels.h,
  // skinny_gemm.h or packed_linear.h) for a float32 inference-only model on the CPU; otherwise
  // the LibTorch ops above.
  bool FusedDecoding() const {
    return options.device.is_cpu() && options.dtype == torch::kFloat32 && !options.requires_grad &&
           !layers.empty() && layers[0].qkv_w.defined() && layers[0].gate_up_w.defined() &&
           config.head_dim <= cpu::kMaxHeadDim && config.head_dim % 2 == 0 &&
           config.num_attention_heads % config.num_key_value_heads == 0;
  }

  std::shared_ptr<const Packed> GetPacked() const {
    absl::MutexLock lock(&pack_mu);
    if (!packed) {
      auto p = std::make_shared<Packed>();
      for (const Layer& l : layers) {
        p->layers.push_back({PackIfPays(l.qkv_w), PackIfPays(l.o_w), PackIfPays(l.gate_up_w),
                             PackIfPays(l.down_w)});
      }
      p->head = PackIfPays(lm_head);
      packed = std::move(p);
    }
    return packed;
  }

  void DropPacked() {
    absl::MutexLock lock(&pack_mu);
    packed.reset();
  }

  // The panel copy where the CPU has AVX-512 (skinny_gemm.h), else oneDNN's; both
  // only for weights at least kMinPackedDim on each side.
  static PackedWeight PackIfPays(const Tensor& w) {
    if (!PackingPays(w)) return {};
    PackedWeight p{Tensor(), PackSkinnyWeight(w)};
    if (!p.panels.defined()) p.onednn = PackLinearWeight(w);
    return p;
  }

  // x (M, K) -> (M, N): the panel kernel for decode steps and prefill alike (on the
  // AMD EPYC host it ran prefill about twice as fast as MKL, which does not use AVX-512
  // there: skinny_gemm.h); else oneDNN's packed copy from kMinPackedRows rows, else
  // LibTorch's linear.
  static Tensor InferLinear(const Tensor& x, const PackedWeight& packed_w, const Tensor& w,
                            const Tensor& b) {
    if (packed_w.panels.defined()) return SkinnyLinear(x, packed_w.panels, w.size(0), b);
    return packed_w.onednn.defined() && x.size(0) >= kMinPackedRows
               ? PackedLinear(x, packed_w.onednn, b)
               : Linear(x, w, b);
  }

  // residual (M, N) += x @ w^T + b, in the panel kernel's stores.
  static void InferLinearAddTo(const Tensor& x, const PackedWeight& packed_w, const Tensor& w,
                               const Tensor& b, const Tensor& residual) {
    if (packed_w.panels.defined()) {
      SkinnyLinearAddTo(x, packed_w.panels, w.size(0), b, residual);
      return;
    }
    residual.add_(InferLinear(x, packed_w, w, b));
  }

  // The fused path: runs tokens `ids` (N) int64, token t at position positions[t]
  // of cache slot slots[t], writing every token's keys and values to the cache,
  // and returns the float32 logits (R, V) of the rows `select` (R) int64. The
  // caller checks bounds and sets the cache lengths.
  Tensor FusedForward(KVCache& cache, const Tensor& ids, const Tensor& slots,
                      const Tensor& positions, const Tensor& select) const {
    std::shared_ptr<const Packed> packs = GetPacked();
    const int64_t N = ids.size(0), H = config.hidden_size, D = config.head_dim,
                  I = config.intermediate_size;
    const float eps = static_cast<float>(config.rms_norm_eps);
    const int64_t max_position = positions.max().item<int64_t>();
    Tensor inv = inv_freq;
    if (config.rope.type == "dynamic" && max_position + 1 > config.max_position_embeddings) {
      inv = InvFreq(max_position + 1);
    }
    Tensor slots_c = slots.contiguous(), positions_c = positions.contiguous();
    // RoPE cos and sin (N, D) in the rotate_half layout, in one loop: LibTorch's five
    // small ops for them woke OpenMP threads on every decode step. `rlvr bench rollout
    // --batch-sizes 1,32 --hf-batch-sizes ""` (two threads, four alternating runs each):
    // batch 32 decode 1791-1866 -> 1877-1960 tokens/s.
    Tensor cos = torch::empty({N, D}), sin = torch::empty({N, D});
    {
      const Tensor inv_c = inv.to(torch::kCPU, torch::kFloat32).contiguous();
      const float* freq = inv_c.data_ptr<float>();
      const int64_t* pos = positions_c.data_ptr<int64_t>();
      float* c = cos.data_ptr<float>();
      float* s = sin.data_ptr<float>();
      const int64_t half = D / 2;
      for (int64_t t = 0; t < N; ++t) {
        const float p = static_cast<float>(pos[t]);
        for (int64_t i = 0; i < half; ++i) {
          const float angle = p * freq[i];
          c[t * D + i] = c[t * D + half + i] = std::cos(angle);
          s[t * D + i] = s[t * D + half + i] = std::sin(angle);
        }
      }
    }
    Tensor x = embed.index_select(0, ids);  // (N, H)
    Tensor h = torch::empty({N, H}, x.options());
    Tensor attn = torch::empty({N, config.num_attention_heads * D}, x.options());
    Tensor act = torch::empty({N, I}, x.options());
    cpu::CachedAttentionArgs a;
    a.num_tokens = N;
    a.num_heads = config.num_attention_heads;
    a.num_kv_heads = config.num_key_value_heads;
    a.head_dim = D;
    a.norm_eps = eps;
    a.cos = cos.data_ptr<float>();
    a.sin = sin.data_ptr<float>();
    a.slots = slots_c.data_ptr<int64_t>();
    a.positions = positions_c.data_ptr<int64_t>();
    a.max_len = cache.max_len();
    a.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
    a.out = attn.data_ptr<float>();
    for (size_t li = 0; li < layers.size(); ++li) {
      const Layer& l = layers[li];
      const PackedLayer& p = packs->layers[li];
      cpu::RmsNormRows(x.data_ptr<float>(), l.input_norm.data_ptr<float>(), eps, N, H,
                       h.data_ptr<float>());
      Tensor qkv = InferLinear(h, p.qkv, l.qkv_w, l.qkv_b).contiguous();
      a.qkv = qkv.data_ptr<float>();
      a.q_norm = l.q_norm.defined() ? l.q_norm.data_ptr<float>() : nullptr;
      a.k_norm = l.k_norm.defined() ? l.k_norm.data_ptr<float>() : nullptr;
      a.key_cache = cache.keys(li).data_ptr<float>();
      a.value_cache = cache.values(li).data_ptr<float>();
      cpu::CachedAttention(a);
      InferLinearAddTo(attn, p.o, l.o_w, l.o_b, x);
      cpu::RmsNormRows(x.data_ptr<float>(), l.post_norm.data_ptr<float>(), eps, N, H,
                       h.data_ptr<float>());
      Tensor gate_up = InferLinear(h, p.gate_up, l.gate_up_w, l.gate_up_b).contiguous();
      cpu::SiluMulRows(gate_up.data_ptr<float>(), N, I, act.data_ptr<float>());
      InferLinearAddTo(act, p.down, l.down_w, l.down_b, x);
    }
    Tensor last = x.index_select(0, select).contiguous();  // (R, H)
    cpu::RmsNormRows(last.data_ptr<float>(), final_norm.data_ptr<float>(), eps, last.size(0), H,
                     last.data_ptr<float>());
    return InferLinear(last, packs->head, lm_head, Tensor());
  }

  absl::StatusOr<std::vector<std::pair<std::string, Tensor>>> Build(
      const std::map<std::string, Tensor>* source, uint64_t seed) {
    auto spec = Spec(config);
    auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
    at::Generator gen = at::detail::createCPUGenerator(seed);
    std::vector<std::pair<std::string, Tensor>> out;
    for (const auto& [name, shape] : spec) {
      Tensor t;
      if (source != nullptr) {
        t = source->at(name);
      } else if (name.find("norm") != std::string::npos) {
        t = torch::ones(shape, f32);
      } else if (name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0) {
        t = torch::zeros(shape, f32);
      } else {
        t = torch::randn(shape, gen, f32) * 0.02;
      }
      t = t.to(options.device, options.dtype).detach().clone();
      t.set_requires_grad(options.requires_grad);
      out.emplace_back(name, t);
    }
    return out;
  }
};

Transformer::Transformer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Transformer::Transformer(Transformer&&) noexcept = default;
Transformer& Transformer::operator=(Transformer&&) noexcept = default;
Transformer::~Transformer() = default;

const ModelConfig& Transformer::config() const { return impl_->config; }
const ModelOptions& Transformer::options() const { return impl_->options; }

std::vector<std::pair<std::string, torch::Tensor>> Transformer::NamedParameters() const {
  return impl_->params;
}

absl::StatusOr<Transformer> Transformer::RandomInit(const ModelConfig& config, uint64_t seed,
                                                    const ModelOptions& options) {
  RETURN_IF_ERROR(config.Validate("RandomInit config"));
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  impl->options = options;
  impl->config.torch_dtype = DtypeConfigName(options.dtype);
  try {
    ASSIGN_OR_RETURN(impl->params, impl->Build(nullptr, seed));
    impl->Bind();
  } catch (const std::exception& e) {
    return TorchError("RandomInit", e);
  }
  return Transformer(std::move(impl));
}

absl::StatusOr<Transformer> Transformer::Load(const std::string& dir, const ModelOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(dir, ": model directory does not exist"));
  }
  ASSIGN_OR_RETURN(ModelConfig config,
                   ModelConfig::FromFile((fs::path(dir) / "config.json").string()));
  ASSIGN_OR_RETURN(std::unique_ptr<safetensors::Checkpoint> checkpoint,
                   safetensors::Checkpoint::Open(dir));
  auto spec = Impl::Spec(config);
  std::set<std::string> expected;
  for (const auto& [name, shape] : spec) expected.insert(name);
  std::string files;
  for (const auto& f : checkpoint->files()) {
    files += (files.empty() ? "" : ", ") + f->path();
  }
  for (const std::string& name : checkpoint->names()) {
    const bool ignorable = (config.tie_word_embeddings && name == "lm_head.weight") ||
                           name.find("rotary_emb.inv_freq") != std::string::npos;
    if (!expected.count(name) && !ignorable) {
      return absl::InvalidArgumentError(absl::StrCat(
          checkpoint->FileOf(name), ": unexpected tensor '", name, "' for a ", config.model_type,
          " model with this config.json (bias, q/k norm or tie_word_embeddings mismatch?)"));
    }
  }
  std::map<std::string, Tensor> tensors;
  try {
    for (const auto& [name, shape] : spec) {
      const safetensors::TensorView* view = checkpoint->Find(name);
      if (view == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(
            files, ": tensor '", name, "' is missing (expected shape ", ShapeString(shape), ")"));
      }
      if (view->shape != shape) {
        return absl::InvalidArgumentError(
            absl::StrCat(checkpoint->FileOf(name), ": tensor '", name, "' has shape ",
                         ShapeString(view->shape), ", config.json implies ", ShapeString(shape)));
      }
      Tensor t = safetensors::ToTensor(*view);
      if (!t.is_floating_point()) {
        return absl::InvalidArgumentError(absl::StrCat(checkpoint->FileOf(name), ": tensor '", name,
                                                       "' has non-float dtype ",
                                                       safetensors::DtypeName(view->dtype)));
      }
      tensors[name] = t;
    }
  } catch (const std::exception& e) {
    return TorchError(dir, e);
  }
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  impl->options = options;
  impl->config.torch_dtype = DtypeConfigName(options.dtype);
  try {
    ASSIGN_OR_RETURN(impl->params, impl->Build(&tensors, 0));
    impl->Bind();
  } catch (const std::exception& e) {
    return TorchError(dir, e);
  }
  return Transformer(std::move(impl));
}

absl::Status Transformer::Save(const std::string& dir, const SaveOptions& options) const {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (!fs::is_directory(dir, ec)) {
    return absl::InternalError(absl::StrCat(dir, ": cannot create directory"));
  }
  {
    const std::string path = (fs::path(dir) / "config.json").string();
    std::ofstream out(path);
    out << impl_->config.ToJson();
    if (!out) return absl::InternalError(absl::StrCat(path, ": write failed"));
  }
  // Group parameters into shards of at most max_shard_bytes.
  std::vector<std::vector<std::pair<std::string, Tensor>>> shards(1);
  int64_t shard_bytes = 0, total = 0;
  for (const auto& [name, t] : impl_->params) {
    const int64_t bytes = t.numel() * t.element_size();
    if (shard_bytes > 0 && shard_bytes + bytes > options.max_shard_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().emplace_back(name, t);
    shard_bytes += bytes;
    total += bytes;
  }
  const std::map<std::string, std::string> metadata = {{"format", "pt"}};
  const std::string index_path = (fs::path(dir) / "model.safetensors.index.json").string();
  if (shards.size() == 1) {
    fs::remove(index_path, ec);
    return safetensors::SaveTensors((fs::path(dir) / "model.safetensors").string(), shards[0],
                                    metadata);
  }
  fs::remove(fs::path(dir) / "model.safetensors", ec);
  nlohmann::json weight_map = nlohmann::json::object();
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string file =
        absl::StrFormat("model-%05d-of-%05d.safetensors", i + 1, shards.size());
    RETURN_IF_ERROR(safetensors::SaveTensors((fs::path(dir) / file).string(), shards[i], metadata));
    for (const auto& [name, t] : shards[i]) weight_map[name] = file;
  }
  nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  std::ofstream out(index_path);
  out << index.dump(2) << "\n";
  if (!out) return absl::InternalError(absl::StrCat(index_path, ": write failed"));
  return absl::OkStatus();
}

absl::StatusOr<Transformer> Transformer::Clone(const ModelOptions& options) const {
  auto impl = std::make_unique<Impl>();
  impl->config = impl_->config;
  impl->options = options;
  impl->config.torch_dtype = DtypeConfigName(options.dtype);
  try {
    std::map<std::string, Tensor> source;
    for (const auto& [name, t] : impl_->params) source[name] = t.detach();
    ASSIGN_OR_RETURN(impl->params, impl->Build(&source, 0));
    impl->Bind();
  } catch (const std::exception& e) {
    return TorchError("Clone", e);
  }
  return Transformer(std::move(impl));
}

absl::Status Transformer::LoadNamedTensors(const std::map<std::string, torch::Tensor>& tensors) {
  for (const auto& [name, t] : impl_->params) {
    auto it = tensors.find(name);
    if (it == tensors.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("LoadNamedTensors: tensor '", name, "' is missing"));
    }
    if (!it->second.defined() || it->second.sizes() != t.sizes()) {
      return absl::InvalidArgumentError(
          absl::StrCat("LoadNamedTensors: tensor '", name, "' has shape ",
                       it->second.defined() ? ShapeString(it->second.sizes()) : "(undefined)",
                       ", expected ", ShapeString(t.sizes())));
    }
  }
  if (tensors.size() != impl_->params.size()) {
    for (const auto& [name, t] : tensors) {
      bool known = impl_->config.tie_word_embeddings && name == "lm_head.weight";
      for (const auto& p : impl_->params) known = known || p.first == name;
      if (!known) {
        return absl::InvalidArgumentError(
            absl::StrCat("LoadNamedTensors: unexpected tensor '", name, "'"));
      }
    }
  }
  try {
    torch::NoGradGuard no_grad;
    impl_->DropPacked();
    for (auto& [name, t] : impl_->params) t.copy_(tensors.at(name));
  } catch (const std::exception& e) {
    return TorchError("LoadNamedTensors", e);
  }
  return absl::OkStatus();
}

absl::StatusOr<torch::Tensor> Transformer::Logits(const TokenBatch& batch) const {
  try {
    Tensor positions, mask;
    RETURN_IF_ERROR(impl_->Prepare(batch, &positions, &mask));
    Tensor ids = batch.input_ids.to(impl_->options.device);
    return impl_->Head(impl_->Hidden(ids, positions, mask));
  } catch (const std::exception& e) {
    return TorchError("Logits", e);
  }
}

absl::StatusOr<torch::Tensor> Transformer::Logits(const torch::Tensor& input_ids) const {
  TokenBatch batch;
  batch.input_ids = input_ids;
  return Logits(batch);
}

absl::StatusOr<TokenLogprobsResult> Transformer::TokenLogprobs(
    const TokenBatch& batch, const torch::Tensor& target_ids,
    const TokenLogprobsOptions& options) const {
  if (!(options.temperature > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("TokenLogprobs: temperature must be positive, got ", options.temperature));
  }
  if (options.chunk_size <= 0) {
    return absl::InvalidArgumentError("TokenLogprobs: chunk_size must be positive");
  }
  if (options.max_saved_bytes < 0) {
    return absl::InvalidArgumentError("TokenLogprobs: max_saved_bytes must not be negative");
  }
  try {
    Tensor positions, mask;
    RETURN_IF_ERROR(impl_->Prepare(batch, &positions, &mask));
    if (!target_ids.defined() || target_ids.sizes() != batch.input_ids.sizes() ||
        target_ids.scalar_type() != torch::kInt64) {
      return absl::InvalidArgumentError(
          "TokenLogprobs: target_ids must be int64 shaped like input_ids");
    }
    if (target_ids.numel() > 0 && (target_ids.min().item<int64_t>() < 0 ||
                                   target_ids.max().item<int64_t>() >= impl_->config.vocab_size)) {
      return absl::InvalidArgumentError(
          absl::StrCat("TokenLogprobs: target_ids outside [0, ", impl_->config.vocab_size, ")"));
    }
    const int64_t B = batch.input_ids.size(0), T = batch.input_ids.size(1);
    const Tensor& only = options.only_positions;
    if (only.defined()) {
      if (only.dim() != 1 || only.scalar_type() != torch::kInt64) {
        return absl::InvalidArgumentError("TokenLogprobs: only_positions must be (N) int64");
      }
      if (only.numel() > 0 &&
          (only.min().item<int64_t>() < 0 || only.max().item<int64_t>() >= B * T)) {
        return absl::InvalidArgumentError(
            absl::StrCat("TokenLogprobs: only_positions outside [0, ", B * T, ")"));
      }
    }
    Tensor ids = batch.input_ids.to(impl_->options.device);
    Tensor hidden = impl_->Hidden(ids, positions, mask).reshape({B * T, -1});
    Tensor targets = target_ids.to(impl_->options.device).reshape({-1});
    if (only.defined()) {
      const Tensor index = only.to(impl_->options.device);
      hidden = hidden.index_select(0, index);
      targets = targets.index_select(0, index);
    }
    // Saving log-softmax chunks only pays when a backward pass follows.
    const bool grad =
        torch::GradMode::is_enabled() && (hidden.requires_grad() || impl_->lm_head.requires_grad());
    auto out = ChunkedLogprobs::apply(hidden, impl_->lm_head, targets, options.temperature,
                                      options.chunk_size, options.with_entropy,
                                      grad ? options.max_saved_bytes : int64_t{0});
    TokenLogprobsResult result;
    result.logprobs = only.defined() ? out[0] : out[0].view({B, T});
    if (options.with_entropy) result.entropy = only.defined() ? out[1] : out[1].view({B, T});
    return result;
  } catch (const std::exception& e) {
    return TorchError("TokenLogprobs", e);
  }
}

absl::StatusOr<torch::Tensor> Transformer::Prefill(KVCache& cache, int64_t slot,
                                                   const std::vector<int64_t>& tokens) const {
  RETURN_IF_ERROR(cache.CheckSlot(slot));
  const int64_t start = cache.length(slot), n = static_cast<int64_t>(tokens.size());
  if (n == 0) return absl::InvalidArgumentError("Prefill: no tokens");
  if (start + n > cache.max_len()) {
    return absl::InvalidArgumentError(absl::StrCat("Prefill: slot ", slot, " would hold ",
                                                   start + n, " tokens, max_len is ",
                                                   cache.max_len()));
  }
  for (int64_t t : tokens) {
    if (t < 0 || t >= impl_->config.vocab_size) {
      return absl::InvalidArgumentError(
          absl::StrCat("Prefill: token ", t, " outside [0, ", impl_->config.vocab_size, ")"));
    }
  }
  try {
    c10::InferenceMode guard;
    const Impl& m = *impl_;
    if (m.FusedDecoding()) {
      Tensor logits = m.FusedForward(
          cache, torch::tensor(tokens, torch::kInt64), torch::full({n}, slot, torch::kInt64),
          torch::arange(start, start + n, torch::kInt64), torch::full({1}, n - 1, torch::kInt64));
      cache.set_length(slot, start + n);
      return logits.squeeze(0);
    }
    const auto device = m.options.device;
    Tensor ids = torch::tensor(tokens, torch::kInt64).to(device).unsqueeze(0);  // (1, n)
    Tensor positions = torch::arange(start, start + n, torch::kInt64).to(device).unsqueeze(0);
    auto [cos, sin] = m.Rope(positions, start + n - 1);
    // Query i (position start+i) sees keys 0..start+i.
    Tensor mask;
    if (start > 0) {
      mask = torch::ones({n, start + n}, torch::TensorOptions().dtype(torch::kBool).device(device))
                 .tril(start)
                 .view({1, 1, n, start + n});
    }
    Tensor x = m.embed.index_select(0, ids.reshape({-1})).view({1, n, m.config.hidden_size});
    for (size_t li = 0; li < m.layers.size(); ++li) {
      const Layer& l = m.layers[li];
      Tensor h = RmsNorm(x, l.input_norm, m.config.rms_norm_eps);
      Tensor q, k, v;
      m.Qkv(l, h, cos, sin, &q, &k, &v);
      Tensor kc = cache.keys(li)[slot], vc = cache.values(li)[slot];  // (L, Hkv, D)
      kc.narrow(0, start, n).copy_(k[0]);
      vc.narrow(0, start, n).copy_(v[0]);
      Tensor keys = kc.narrow(0, 0, start + n).transpose(0, 1).unsqueeze(0);
      Tensor values = vc.narrow(0, 0, start + n).transpose(0, 1).unsqueeze(0);
      Tensor attn = m.Attend(q.transpose(1, 2), keys, values, mask, /*causal=*/true);
      x = x + Linear(attn, l.o_w, l.o_b);
      x = x + m.Mlp(l, RmsNorm(x, l.post_norm, m.config.rms_norm_eps));
    }
    Tensor last = RmsNorm(x.select(1, n - 1), m.final_norm, m.config.rms_norm_eps);  // (1, H)
    cache.set_length(slot, start + n);
    return m.Head(last).squeeze(0);
  } catch (const std::exception& e) {
    return TorchError("Prefill", e);
  }
}

absl::StatusOr<torch::Tensor> Transformer::PrefillBatch(
    KVCache& cache, const std::vector<int64_t>& slots,
    const std::vector<std::vector<int64_t>>& prompts, const PrefillBatchOptions& options) const {
  if (slots.size() != prompts.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("PrefillBatch: ", slots.size(), " slots for ", prompts.size(), " prompts"));
  }
  if (slots.empty()) return absl::InvalidArgumentError("PrefillBatch: no prompts");
  std::set<int64_t> seen;
  int64_t total = 0;
  for (size_t i = 0; i < slots.size(); ++i) {
    RETURN_IF_ERROR(cache.CheckSlot(slots[i]));
    if (!seen.insert(slots[i]).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("PrefillBatch: slot ", slots[i], " appears twice"));
    }
    const int64_t start = cache.length(slots[i]), n = static_cast<int64_t>(prompts[i].size());
    if (n == 0)
      return absl::InvalidArgumentError(absl::StrCat("PrefillBatch: prompt ", i, " is empty"));
    if (start + n > cache.max_len()) {
      return absl::InvalidArgumentError(absl::StrCat("PrefillBatch: slot ", slots[i],
                                                     " would hold ", start + n,
                                                     " tokens, max_len is ", cache.max_len()));
    }
    for (int64_t t : prompts[i]) {
      if (t < 0 || t >= impl_->config.vocab_size) {
        return absl::InvalidArgumentError(absl::StrCat("PrefillBatch: prompt ", i, " token ", t,
                                                       " outside [0, ", impl_->config.vocab_size,
                                                       ")"));
      }
    }
    total += n;
  }
  const int64_t P = static_cast<int64_t>(prompts.size());
  if (!impl_->FusedDecoding()) {
    std::vector<Tensor> rows;
    for (int64_t i = 0; i < P; ++i) {
      ASSIGN_OR_RETURN(Tensor row, Prefill(cache, slots[i], prompts[i]));
      rows.push_back(row);
    }
    try {
      return torch::stack(rows);
    } catch (const std::exception& e) {
      return TorchError("PrefillBatch", e);
    }
  }
  try {
    c10::InferenceMode guard;
    // Every token of every prompt in one row; chunks of at most
    // max_chunk_tokens run in order, so a token's earlier positions are
    // always in the cache when it attends.
    Tensor ids = torch::empty({total}, torch::kInt64),
           tok_slots = torch::empty({total}, torch::kInt64),
           tok_pos = torch::empty({total}, torch::kInt64);
    std::vector<int64_t> last(P);  // flat index of each prompt's last token
    int64_t* id = ids.data_ptr<int64_t>();
    int64_t* ts = tok_slots.data_ptr<int64_t>();
    int64_t* tp = tok_pos.data_ptr<int64_t>();
    int64_t k = 0;
    for (int64_t i = 0; i < P; ++i) {
      const int64_t start = cache.length(slots[i]);
      for (size_t j = 0; j < prompts[i].size(); ++j, ++k) {
        id[k] = prompts[i][j];
        ts[k] = slots[i];
        tp[k] = start + static_cast<int64_t>(j);
      }
      last[i] = k - 1;
    }
    Tensor logits = torch::empty({P, impl_->config.vocab_size}, torch::kFloat32);
    const int64_t chunk = std::max<int64_t>(1, options.max_chunk_tokens);
    int64_t next_prompt = 0;
    for (int64_t begin = 0; begin < total; begin += chunk) {
      const int64_t len = std::min(chunk, total - begin);
      std::vector<int64_t> select, which;
      while (next_prompt < P && last[next_prompt] < begin + len) {
        select.push_back(last[next_prompt] - begin);
        which.push_back(next_prompt++);
      }
      if (select.empty()) {
        // Keys and values only; one row of logits is the cheapest valid select.
        select.push_back(len - 1);
      }
      Tensor out =
          impl_->FusedForward(cache, ids.narrow(0, begin, len), tok_slots.narrow(0, begin, len),
                              tok_pos.narrow(0, begin, len), torch::tensor(select));
      for (size_t r = 0; r < which.size(); ++r) logits[which[r]].copy_(out[r]);
    }
    for (int64_t i = 0; i < P; ++i) {
      cache.set_length(slots[i], cache.length(slots[i]) + static_cast<int64_t>(prompts[i].size()));
    }
    return logits;
  } catch (const std::exception& e) {
    return TorchError("PrefillBatch", e);
  }
}

absl::StatusOr<torch::Tensor> Transformer::DecodeStep(KVCache& cache, const torch::Tensor& slot_ids,
                                                      const torch::Tensor& tokens,
                                                      const torch::Tensor& positions) const {
  for (const auto& [name, t] : {std::pair<const char*, Tensor>{"slot_ids", slot_ids},
                                {"tokens", tokens},
                                {"positions", positions}}) {
    if (!t.defined() || t.dim() != 1 || t.scalar_type() != torch::kInt64 || !t.device().is_cpu() ||
        t.size(0) != slot_ids.size(0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("DecodeStep: ", name, " must be a (B) int64 CPU tensor like slot_ids"));
    }
  }
  const int64_t B = slot_ids.size(0);
  if (B == 0) return absl::InvalidArgumentError("DecodeStep: empty batch");
  Tensor slots_c = slot_ids.contiguous(), tokens_c = tokens.contiguous(),
         pos_c = positions.contiguous();
  const int64_t* s = slots_c.data_ptr<int64_t>();
  const int64_t* tok = tokens_c.data_ptr<int64_t>();
  const int64_t* pos = pos_c.data_ptr<int64_t>();
  std::set<int64_t> seen;
  int64_t max_pos = 0;
  bool contiguous_slots = true;
  for (int64_t b = 0; b < B; ++b) {
    RETURN_IF_ERROR(cache.CheckSlot(s[b]));
    if (!seen.insert(s[b]).second) {
      return absl::InvalidArgumentError(absl::StrCat("DecodeStep: slot ", s[b], " appears twice"));
    }
    if (pos[b] < 0 || pos[b] > cache.length(s[b]) || pos[b] >= cache.max_len()) {
      return absl::InvalidArgumentError(absl::StrCat("DecodeStep: position ", pos[b], " for slot ",
                                                     s[b], " of length ", cache.length(s[b]),
                                                     " (max_len ", cache.max_len(), ")"));
    }
    if (tok[b] < 0 || tok[b] >= impl_->config.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("DecodeStep: token ", tok[b], " outside [0, ",
                                                     impl_->config.vocab_size, ")"));
    }
    max_pos = std::max(max_pos, pos[b]);
    contiguous_slots = contiguous_slots && s[b] == s[0] + b;
  }
  try {
    c10::InferenceMode guard;
    const Impl& m = *impl_;
    if (m.FusedDecoding()) {
      Tensor logits = m.FusedForward(cache, tokens_c, slots_c, pos_c, torch::arange(B));
      for (int64_t b = 0; b < B; ++b) cache.set_length(s[b], pos[b] + 1);
      return logits;
    }
    const auto device = m.options.device;
    const int64_t L = max_pos + 1;
    Tensor slots_d = slots_c.to(device), pos_d = pos_c.to(device);
    auto [cos, sin] = m.Rope(pos_d.unsqueeze(1), max_pos);  // (B, 1, 1, D)
    // Slot b sees cache positions 0..pos[b].
    Tensor mask =
        (torch::arange(L, pos_d.options()).unsqueeze(0) <= pos_d.unsqueeze(1)).view({B, 1, 1, L});
    Tensor x = m.embed.index_select(0, tokens_c.to(device)).view({B, 1, m.config.hidden_size});
    for (size_t li = 0; li < m.layers.size(); ++li) {
      const Layer& l = m.layers[li];
      Tensor h = RmsNorm(x, l.input_norm, m.config.rms_norm_eps);
      Tensor q, k, v;
      m.Qkv(l, h, cos, sin, &q, &k, &v);  // (B, 1, H*, D)
      Tensor& kc = cache.keys(li);        // (S, max_len, Hkv, D)
      Tensor& vc = cache.values(li);
      kc.index_put_({slots_d, pos_d}, k.squeeze(1));
      vc.index_put_({slots_d, pos_d}, v.squeeze(1));
      Tensor keys, values;  // (B, L, Hkv, D)
      if (contiguous_slots) {
        keys = kc.narrow(0, s[0], B).narrow(1, 0, L);
        values = vc.narrow(0, s[0], B).narrow(1, 0, L);
      } else {
        keys = kc.narrow(1, 0, L).index_select(0, slots_d);
        values = vc.narrow(1, 0, L).index_select(0, slots_d);
      }
      Tensor attn = m.Attend(q.transpose(1, 2), keys.transpose(1, 2), values.transpose(1, 2), mask,
                             /*causal=*/false);
      x = x + Linear(attn, l.o_w, l.o_b);
      x = x + m.Mlp(l, RmsNorm(x, l.post_norm, m.config.rms_norm_eps));
    }
    Tensor last = RmsNorm(x.squeeze(1), m.final_norm, m.config.rms_norm_eps);  // (B, H)
    for (int64_t b = 0; b < B; ++b) cache.set_length(s[b], pos[b] + 1);
    return m.Head(last);
  } catch (const std::exception& e) {
    return TorchError("DecodeStep", e);
  }
}

}  // namespace rlvr
