# Every external library rlvr builds against. All come from Debian's packages
# except LibTorch, which comes from the PyPI torch wheel in RLVR_VENV (Debian's
# libtorch 1.13 is the fallback).

find_package(Threads REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(absl REQUIRED)
find_package(Protobuf REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_program(GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)
find_package(GTest REQUIRED)
find_package(benchmark REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(yaml-cpp REQUIRED)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
pkg_check_modules(UTF8PROC REQUIRED IMPORTED_TARGET libutf8proc)
pkg_check_modules(GINAC REQUIRED IMPORTED_TARGET ginac)
pkg_check_modules(SECCOMP REQUIRED IMPORTED_TARGET libseccomp)
find_package(prometheus-cpp CONFIG REQUIRED)

# --- LibTorch ---------------------------------------------------------------
if(EXISTS "${RLVR_PYTHON}")
  execute_process(
    COMMAND "${RLVR_PYTHON}" -c "import torch,sys; sys.stdout.write(torch.utils.cmake_prefix_path + ';' + str(torch.version.cuda or ''))"
    OUTPUT_VARIABLE _rlvr_torch_info RESULT_VARIABLE _rlvr_torch_rc ERROR_QUIET)
  if(_rlvr_torch_rc EQUAL 0)
    list(GET _rlvr_torch_info 0 _rlvr_torch_prefix)
    list(GET _rlvr_torch_info 1 RLVR_TORCH_CUDA_VERSION)
    list(PREPEND CMAKE_PREFIX_PATH "${_rlvr_torch_prefix}")
    message(STATUS "rlvr: LibTorch from the torch wheel at ${_rlvr_torch_prefix} (CUDA '${RLVR_TORCH_CUDA_VERSION}')")
  endif()
endif()

find_program(RLVR_NVCC nvcc PATHS /usr/local/cuda/bin)
set(RLVR_WITH_CUDA OFF)
if(RLVR_CUDA STREQUAL "ON" OR (RLVR_CUDA STREQUAL "AUTO" AND RLVR_TORCH_CUDA_VERSION AND RLVR_NVCC))
  if(NOT RLVR_TORCH_CUDA_VERSION OR NOT RLVR_NVCC)
    message(FATAL_ERROR "RLVR_CUDA=ON needs a CUDA build of the torch wheel and nvcc on PATH")
  endif()
  set(RLVR_WITH_CUDA ON)
endif()

if(RLVR_WITH_CUDA)
  if(NOT CMAKE_CUDA_COMPILER)
    set(CMAKE_CUDA_COMPILER "${RLVR_NVCC}")
  endif()
  if(NOT TORCH_CUDA_ARCH_LIST)
    set(TORCH_CUDA_ARCH_LIST "8.0")
  endif()
  set(CAFFE2_USE_CUDNN ON)
  find_package(Torch REQUIRED)
  # The wheel's own CUDA libraries (NCCL, cuDNN, cudart, ...) must win over the
  # system toolkit's at link and run time: libtorch_cuda needs their newer symbols.
  file(GLOB _rlvr_nv_dirs "${_rlvr_torch_prefix}/../../../nvidia/*/lib" "${_rlvr_torch_prefix}/../../../nvidia/cu*/lib")
  foreach(_dir IN LISTS _rlvr_nv_dirs)
    get_filename_component(_dir "${_dir}" REALPATH)
    add_link_options("LINKER:-rpath-link,${_dir}" "LINKER:-rpath,${_dir}")
  endforeach()
else()
  # A CUDA wheel still carries libtorch_cpu; link only the CPU libraries.
  find_package(Torch QUIET)
  if(NOT Torch_FOUND)
    message(FATAL_ERROR "LibTorch not found: run scripts/setup (torch wheel in ${RLVR_VENV})")
  endif()
endif()
message(STATUS "rlvr: CUDA code paths ${RLVR_WITH_CUDA}; LibTorch ${Torch_VERSION}")
