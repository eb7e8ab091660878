# Helpers that keep every module's CMakeLists.txt short.

# Paths that tests need, in a generated header rather than per-target compile
# definitions, so that all torch targets can share one precompiled header.
set(RLVR_SHARED_DIR "${PROJECT_SOURCE_DIR}/../shared" CACHE PATH "Shared fixtures (absent on a user's fresh clone)")
configure_file(${PROJECT_SOURCE_DIR}/cmake/test_paths.h.in ${PROJECT_BINARY_DIR}/gen/rlvr/test_paths.h @ONLY)
configure_file(${PROJECT_SOURCE_DIR}/cmake/build_config.h.in ${PROJECT_BINARY_DIR}/gen/rlvr/build_config.h @ONLY)

# One precompiled <torch/torch.h>, reused by every target that uses LibTorch.
add_library(rlvr_torch_pch STATIC ${PROJECT_SOURCE_DIR}/cmake/torch_pch.cc)
target_link_libraries(rlvr_torch_pch PUBLIC ${TORCH_LIBRARIES})
target_precompile_headers(rlvr_torch_pch PRIVATE <torch/torch.h>)

# rlvr_use_torch(target): links LibTorch and reuses the shared precompiled header.
function(rlvr_use_torch target)
  target_link_libraries(${target} PUBLIC ${TORCH_LIBRARIES})
  target_precompile_headers(${target} REUSE_FROM rlvr_torch_pch)
endfunction()

# rlvr_test(NAME n SOURCES s... LIBS l... [LABELS fast] [TORCH] [TIMEOUT sec])
# Every test carries the label "full"; quick ones also "fast".
function(rlvr_test)
  cmake_parse_arguments(T "TORCH" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gmock GTest::gtest_main)
  target_include_directories(${T_NAME} PRIVATE ${PROJECT_BINARY_DIR}/gen)
  if(T_TORCH)
    rlvr_use_torch(${T_NAME})
  endif()
  add_dependencies(${T_NAME} rlvr)
  add_test(NAME ${T_NAME} COMMAND ${T_NAME})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES LABELS "full;${T_LABELS}" TIMEOUT ${T_TIMEOUT})
endfunction()
