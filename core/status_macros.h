// Local status macros: Abseil 20220623 ships none.
#ifndef RLVR_CORE_STATUS_MACROS_H_
#define RLVR_CORE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define RLVR_CONCAT_INNER_(a, b) a##b
#define RLVR_CONCAT_(a, b) RLVR_CONCAT_INNER_(a, b)

// Returns the status from the enclosing function if `expr` is not OK.
#define RETURN_IF_ERROR(expr)                      \
  do {                                             \
    ::absl::Status rlvr_status_ = (expr);          \
    if (!rlvr_status_.ok()) return rlvr_status_;   \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, Foo());` declares `x` from a StatusOr or returns its error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL_(RLVR_CONCAT_(rlvr_statusor_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                           \
  if (!tmp.ok()) return tmp.status();          \
  lhs = std::move(tmp).value()

#endif  // RLVR_CORE_STATUS_MACROS_H_
