/* rlvr verifier plugin ABI: a reward written in any language that can export C
 * symbols (C, C++, Rust, Zig, ...) and loaded into rlvr with dlopen.
 *
 * A plugin is a shared library exporting one function:
 *
 *   const rlvr_verifier_plugin* rlvr_verifier_plugin_v1(void);
 *
 * which returns a pointer to a static table (never freed) whose abi_version is
 * RLVR_VERIFIER_PLUGIN_ABI_VERSION and whose struct_size is sizeof(rlvr_verifier_plugin)
 * at the plugin's build. rlvr refuses a plugin whose version differs, whose table is
 * smaller than this header's, or whose table has a NULL function pointer.
 *
 * Threading: after create() returns, rlvr may call verify() and verify_batch() on the
 * same instance from many threads at once; the plugin must make them thread-safe.
 * create(), destroy() and release_result() may be called from any thread.
 *
 * Memory: strings passed to the plugin are NUL-terminated UTF-8 owned by rlvr and
 * valid only during the call. Strings a plugin puts in rlvr_verify_result are owned
 * by the plugin; rlvr copies them and then calls release_result() exactly once for
 * every result the plugin filled in successfully.
 *
 * Errors: a function returning non-zero (or create() returning NULL) leaves a message
 * for the calling thread that last_error() returns; the message stays valid until the
 * next call into the plugin on that thread. A wrong answer is NOT an error: it is a
 * result with score 0 and a verdict such as "incorrect".
 *
 * Crashes: a plugin runs in rlvr's process; a crash in it kills the trainer. Run a
 * plugin that may crash out of process behind `rlvr serve-verifier` (docs/verifiers.md).
 *
 * Versioning: fields are only ever appended; a change to an existing field bumps
 * RLVR_VERIFIER_PLUGIN_ABI_VERSION and the entry point's name suffix.
 */
#ifndef RLVR_VERIFIER_PLUGIN_H_
#define RLVR_VERIFIER_PLUGIN_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RLVR_VERIFIER_PLUGIN_ABI_VERSION 1u
/* The name of the exported entry point. */
#define RLVR_VERIFIER_PLUGIN_ENTRY "rlvr_verifier_plugin_v1"

/* An instance created by the plugin; opaque to rlvr. */
typedef struct rlvr_verifier rlvr_verifier;

/* One completion to grade (mirrors rlvr::VerifyRequest). */
typedef struct rlvr_verify_request {
  const char* id;             /* task or sample id, for messages */
  const char* completion;     /* the model's output */
  const char* answer;         /* gold answer; may be "" */
  const char* spec_json;      /* task fields as a JSON object, at least "{}" */
  int64_t completion_tokens;  /* 0 when unknown */
} rlvr_verify_request;

/* Filled in by the plugin. */
typedef struct rlvr_verify_result {
  double score;              /* must be finite; rlvr rejects NaN and infinities */
  const char* verdict;       /* e.g. "correct"; plugin-owned, may be NULL */
  const char* details_json;  /* a JSON object or NULL; plugin-owned */
  void* plugin_data;         /* free for the plugin's use in release_result() */
} rlvr_verify_result;

typedef struct rlvr_verifier_plugin {
  uint32_t abi_version; /* RLVR_VERIFIER_PLUGIN_ABI_VERSION */
  uint32_t struct_size; /* sizeof(rlvr_verifier_plugin) */
  const char* name;     /* short name for messages, e.g. "length_bonus" */

  /* Creates an instance from a JSON object (the `config` of the plugin block).
   * Returns NULL on failure (bad config), with last_error() saying why. */
  rlvr_verifier* (*create)(const char* config_json);
  /* Grades one completion into *out. Returns 0 on success. */
  int (*verify)(rlvr_verifier* self, const rlvr_verify_request* request,
                rlvr_verify_result* out);
  /* Grades n completions into out[0..n). Returns 0 when every result was filled;
   * non-zero means none is to be used (and none released). */
  int (*verify_batch)(rlvr_verifier* self, const rlvr_verify_request* requests, size_t n,
                      rlvr_verify_result* out);
  /* Frees what the plugin allocated for one successful result. */
  void (*release_result)(rlvr_verifier* self, rlvr_verify_result* result);
  /* The calling thread's last error message ("" if none); never NULL. */
  const char* (*last_error)(void);
  /* Destroys an instance; no call on it is in flight. */
  void (*destroy)(rlvr_verifier* self);
} rlvr_verifier_plugin;

typedef const rlvr_verifier_plugin* (*rlvr_verifier_plugin_entry_fn)(void);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif /* RLVR_VERIFIER_PLUGIN_H_ */
