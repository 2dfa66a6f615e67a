# Data parallel. imp_dist_launch (torch-free): launcher environment resolution and `imp launch`.
# imp_lib gets the c10d process group and `imp dist-check`.
add_library(imp_dist_launch STATIC
  ${CMAKE_CURRENT_LIST_DIR}/launch_env.cpp
  ${CMAKE_CURRENT_LIST_DIR}/launcher.cpp
)
target_include_directories(imp_dist_launch PUBLIC ${PROJECT_SOURCE_DIR}/include)
target_link_libraries(imp_dist_launch PRIVATE imp_warnings)
target_link_libraries(imp_lib PUBLIC imp_dist_launch)

# c10d backends. LibTorch's CMake targets define USE_C10D_GLOO (and USE_C10D_NCCL for CUDA builds), but the
# backend headers also need <gloo/...> (Debian: libgloo-dev; PyPI wheels do not ship them) and <nccl.h>
# (e.g. the nvidia-nccl wheel's include folder). imp compiles a backend in only when its headers are found:
# IMP_DIST_GLOO / IMP_DIST_NCCL (see include/imp/dist/compat_c10d.h).
set(_imp_pg ${CMAKE_CURRENT_LIST_DIR}/process_group.cpp)
target_sources(imp_lib PRIVATE ${_imp_pg} ${CMAKE_CURRENT_LIST_DIR}/dist_check.cpp)
function(_imp_dist_backend define include_dir)
  set_property(SOURCE ${_imp_pg} APPEND PROPERTY COMPILE_DEFINITIONS ${define})
  if(NOT include_dir IN_LIST CMAKE_CXX_IMPLICIT_INCLUDE_DIRECTORIES)
    set_property(SOURCE ${_imp_pg} APPEND PROPERTY INCLUDE_DIRECTORIES ${include_dir})
  endif()
endfunction()
if(IMP_GLOO_INCLUDE)
  _imp_dist_backend(IMP_DIST_GLOO ${IMP_GLOO_INCLUDE})
else()
  message(STATUS "imp: gloo headers not found (libgloo-dev, or IMP_THIRD_PARTY_INCLUDE): no data parallel on CPU")
endif()
if(TARGET torch_cuda OR TORCH_CUDA_LIBRARIES)
  find_path(IMP_NCCL_INCLUDE nccl.h HINTS ${IMP_TORCH_NCCL_HINT} ${IMP_THIRD_PARTY_INCLUDE} ENV NCCL_INCLUDE_DIR)
  if(IMP_NCCL_INCLUDE)
    _imp_dist_backend(IMP_DIST_NCCL ${IMP_NCCL_INCLUDE})
  else()
    message(STATUS "imp: CUDA LibTorch but nccl.h not found (set NCCL_INCLUDE_DIR): no data parallel on GPUs")
  endif()
endif()
