/* An example rlvr verifier plugin in plain C: scores `scale` when the completion,
 * trimmed, equals the gold answer, trimmed, and 0 otherwise.
 *
 * Config: {"scale": 1.0}. Build: see CMakeLists.txt; load with
 *   verifier: {name: plugin, config: {library: libexact_match_plugin.so,
 *              plugin_dirs: [/path/to/dir], config: {scale: 1.0}}}
 *
 * The RLVR_PLUGIN_TEST_* macros build deliberately broken variants for rlvr's tests.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rlvr/verifier_plugin.h"

struct rlvr_verifier {
  double scale;
};

static _Thread_local char g_error[256];

static void set_error(const char* msg) {
  snprintf(g_error, sizeof(g_error), "%s", msg);
}

static const char* last_error(void) { return g_error; }

/* Reads "scale": <number> from a flat JSON object; a real plugin would use a JSON
 * library. Returns 0 on success. */
static int parse_config(const char* json, double* scale) {
  const char* p = json;
  while (*p && isspace((unsigned char)*p)) ++p;
  if (*p != '{') {
    set_error("config must be a JSON object");
    return 1;
  }
  const char* key = strstr(json, "\"scale\"");
  if (key == NULL) return 0;
  const char* colon = strchr(key, ':');
  char* end = NULL;
  if (colon == NULL) {
    set_error("config field 'scale' has no value");
    return 1;
  }
  *scale = strtod(colon + 1, &end);
  if (end == colon + 1) {
    set_error("config field 'scale' must be a number");
    return 1;
  }
  return 0;
}

static rlvr_verifier* create(const char* config_json) {
  double scale = 1.0;
  if (parse_config(config_json, &scale) != 0) return NULL;
  rlvr_verifier* self = (rlvr_verifier*)malloc(sizeof(rlvr_verifier));
  if (self == NULL) {
    set_error("out of memory");
    return NULL;
  }
  self->scale = scale;
  return self;
}

static void trimmed(const char* s, const char** begin, size_t* len) {
  while (*s && isspace((unsigned char)*s)) ++s;
  size_t n = strlen(s);
  while (n > 0 && isspace((unsigned char)s[n - 1])) --n;
  *begin = s;
  *len = n;
}

static int verify(rlvr_verifier* self, const rlvr_verify_request* request,
                  rlvr_verify_result* out) {
  if (request->completion == NULL || request->answer == NULL) {
    set_error("request has a NULL completion or answer");
    return 1;
  }
  const char *a, *b;
  size_t na, nb;
  trimmed(request->completion, &a, &na);
  trimmed(request->answer, &b, &nb);
  const int same = na == nb && memcmp(a, b, na) == 0;
#ifdef RLVR_PLUGIN_TEST_NAN
  out->score = strtod("nan", NULL);
#else
  out->score = same ? self->scale : 0.0;
#endif
  out->verdict = same ? "correct" : "incorrect";
  /* Static strings need no freeing; details are allocated to show release_result. */
  char* details = (char*)malloc(64);
  if (details != NULL) snprintf(details, 64, "{\"answer_chars\": %zu}", nb);
  out->details_json = details;
  out->plugin_data = details;
  return 0;
}

static int verify_batch(rlvr_verifier* self, const rlvr_verify_request* requests, size_t n,
                        rlvr_verify_result* out) {
  for (size_t i = 0; i < n; ++i) {
    if (verify(self, &requests[i], &out[i]) != 0) {
      for (size_t j = 0; j < i; ++j) free(out[j].plugin_data);
      return 1;
    }
  }
  return 0;
}

static void release_result(rlvr_verifier* self, rlvr_verify_result* result) {
  (void)self;
  free(result->plugin_data);
  result->plugin_data = NULL;
}

static void destroy(rlvr_verifier* self) { free(self); }

static const rlvr_verifier_plugin kPlugin = {
#ifdef RLVR_PLUGIN_TEST_BAD_VERSION
    RLVR_VERIFIER_PLUGIN_ABI_VERSION + 98,
#else
    RLVR_VERIFIER_PLUGIN_ABI_VERSION,
#endif
    sizeof(rlvr_verifier_plugin),
    "exact_match",
    create,
    verify,
#ifdef RLVR_PLUGIN_TEST_NULL_FUNCTION
    NULL,
#else
    verify_batch,
#endif
    release_result,
    last_error,
    destroy,
};

#ifdef RLVR_PLUGIN_TEST_NO_ENTRY
__attribute__((visibility("default"))) const rlvr_verifier_plugin* rlvr_verifier_plugin_v0(void) {
  return &kPlugin;
}
#else
__attribute__((visibility("default"))) const rlvr_verifier_plugin* rlvr_verifier_plugin_v1(void) {
  return &kPlugin;
}
#endif
