# Which LibTorch imp builds against (README "Toolchains").
#   IMP_TORCH=wheel   the LibTorch inside a Python's torch package: IMP_TORCH_PYTHON, default the project venv
#                     .venv-torch that scripts/setup.sh makes (PyPI torch 2.15, CUDA 13). With a CUDA wheel and a
#                     CUDA toolkit (CUDA_HOME, /usr/local/cuda or nvcc on PATH) the binary is CUDA-enabled with c10d
#                     NCCL; a CUDA wheel without a toolkit gives a CPU-only binary (the wheel's CPU libraries).
#   IMP_TORCH=system  find_package(Torch) from CMAKE_PREFIX_PATH or the system (Debian's libtorch-dev 1.13, CPU).
#   IMP_TORCH=auto    wheel when IMP_TORCH_PYTHON is given or the project venv has torch, else system.
# Sets TORCH_LIBRARIES, TORCH_CXX_FLAGS, Torch_VERSION, IMP_TORCH_KIND, IMP_TORCH_CUDA (ON/OFF),
# IMP_TORCH_NCCL_HINT (the wheel's nccl.h folder) and IMP_TORCHRUN (the launcher of that torch, for tests).
set(IMP_TORCH "auto" CACHE STRING "LibTorch to build against: auto | wheel | system")
set_property(CACHE IMP_TORCH PROPERTY STRINGS auto wheel system)
set(IMP_TORCH_PYTHON "" CACHE FILEPATH "Python whose torch package is built against (IMP_TORCH=wheel)")

set(_imp_venv_python "${PROJECT_SOURCE_DIR}/.venv-torch/bin/python")
set(IMP_TORCH_KIND "${IMP_TORCH}")
if(IMP_TORCH_KIND STREQUAL "auto")
  if(IMP_TORCH_PYTHON OR EXISTS "${_imp_venv_python}")
    set(IMP_TORCH_KIND wheel)
  else()
    set(IMP_TORCH_KIND system)
  endif()
endif()
set(IMP_TORCH_CUDA OFF)
set(IMP_TORCH_NCCL_HINT "")
set(IMP_TORCHRUN "")

if(IMP_TORCH_KIND STREQUAL "system")
  find_package(Torch REQUIRED)
  if(TARGET torch_cuda OR TORCH_CUDA_LIBRARIES)
    set(IMP_TORCH_CUDA ON)
  endif()
  # Debian's python3-torch is the same LibTorch as libtorch-dev; its torchrun can launch this imp.
  find_program(IMP_SYSTEM_TORCHRUN torchrun PATHS /usr/bin NO_DEFAULT_PATH)
  if(IMP_SYSTEM_TORCHRUN AND Torch_DIR MATCHES "^/usr/")
    set(IMP_TORCHRUN "${IMP_SYSTEM_TORCHRUN}")
  endif()
  return()
endif()

if(NOT IMP_TORCH_KIND STREQUAL "wheel")
  message(FATAL_ERROR "IMP_TORCH=${IMP_TORCH}: use auto, wheel or system")
endif()
if(NOT IMP_TORCH_PYTHON)
  set(IMP_TORCH_PYTHON "${_imp_venv_python}")
endif()
execute_process(
  COMMAND "${IMP_TORCH_PYTHON}" -c
    "import os, torch; print(os.path.dirname(torch.__file__)); print(torch.__version__.split('+')[0]); print(torch.version.cuda or ''); print(int(torch._C._GLIBCXX_USE_CXX11_ABI))"
  OUTPUT_VARIABLE _imp_py OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _imp_rc ERROR_VARIABLE _imp_err)
if(NOT _imp_rc EQUAL 0)
  message(FATAL_ERROR "IMP_TORCH=wheel: '${IMP_TORCH_PYTHON}' cannot import torch (${_imp_err}). "
                      "Run scripts/setup.sh (it makes .venv-torch with PyPI torch), set IMP_TORCH_PYTHON to a Python "
                      "with torch 2.x, or build against Debian's LibTorch with -DIMP_TORCH=system.")
endif()
string(REPLACE "\n" ";" _imp_py "${_imp_py}")
list(GET _imp_py 0 _imp_torch_dir)
list(GET _imp_py 1 _imp_torch_version)
list(GET _imp_py 2 _imp_wheel_cuda)
list(GET _imp_py 3 _imp_cxx11_abi)
get_filename_component(_imp_site "${_imp_torch_dir}" DIRECTORY)
get_filename_component(_imp_python_bin "${IMP_TORCH_PYTHON}" DIRECTORY)
if(EXISTS "${_imp_python_bin}/torchrun")
  set(IMP_TORCHRUN "${_imp_python_bin}/torchrun")
endif()

# The wheel's NVIDIA libraries (nvidia/*/lib): libtorch_cuda finds them at run time through its own
# $ORIGIN RPATH, but the linker needs them to resolve the indirect dependencies of an executable.
file(GLOB _imp_nvidia_libs LIST_DIRECTORIES true "${_imp_site}/nvidia/*/lib")
foreach(_dir IN LISTS _imp_nvidia_libs)
  add_link_options("LINKER:-rpath-link,${_dir}")
endforeach()
if(EXISTS "${_imp_site}/nvidia/nccl/include/nccl.h")
  set(IMP_TORCH_NCCL_HINT "${_imp_site}/nvidia/nccl/include")
endif()

set(_imp_nvcc "")
if(_imp_wheel_cuda)
  foreach(_cand "$ENV{CUDA_HOME}/bin/nvcc" "$ENV{CUDA_PATH}/bin/nvcc" "/usr/local/cuda/bin/nvcc")
    if(EXISTS "${_cand}" AND NOT _cand MATCHES "^/bin/")
      set(_imp_nvcc "${_cand}")
      break()
    endif()
  endforeach()
  if(NOT _imp_nvcc)
    find_program(_imp_nvcc_path nvcc)
    if(_imp_nvcc_path)
      set(_imp_nvcc "${_imp_nvcc_path}")
    endif()
  endif()
endif()

if(NOT _imp_wheel_cuda OR _imp_nvcc)
  if(_imp_nvcc)
    # TorchConfig's cuda.cmake enables the CUDA language and finds the toolkit; point both at one nvcc.
    set(CMAKE_CUDA_COMPILER "${_imp_nvcc}" CACHE FILEPATH "" FORCE)
    get_filename_component(_imp_cuda_root "${_imp_nvcc}" DIRECTORY)
    get_filename_component(_imp_cuda_root "${_imp_cuda_root}" DIRECTORY)
    set(CUDA_TOOLKIT_ROOT_DIR "${_imp_cuda_root}" CACHE PATH "" FORCE)
  endif()
  # The torch folder first in CMAKE_PREFIX_PATH: TorchConfig's find_library(... PATHS <its lib/>) searches its
  # own folder last, so a system LibTorch (Debian's) would otherwise be linked with the wheel's headers.
  list(PREPEND CMAKE_PREFIX_PATH "${_imp_torch_dir}")
  find_package(Torch REQUIRED CONFIG PATHS "${_imp_torch_dir}/share/cmake/Torch" NO_DEFAULT_PATH)
  if(TARGET torch_cuda OR TORCH_CUDA_LIBRARIES)
    set(IMP_TORCH_CUDA ON)
  endif()
else()
  # A CUDA wheel on a machine without a CUDA toolkit: TorchConfig would stop, so import the CPU libraries.
  message(WARNING "imp: torch ${_imp_torch_version} is a CUDA ${_imp_wheel_cuda} wheel but no CUDA toolkit was found "
                  "(CUDA_HOME, /usr/local/cuda, nvcc on PATH): building a CPU-only imp. Install the toolkit or set "
                  "CUDA_HOME for the CUDA + NCCL build.")
  add_library(imp_torch_cpu INTERFACE)
  target_include_directories(imp_torch_cpu SYSTEM INTERFACE "${_imp_torch_dir}/include"
                                                            "${_imp_torch_dir}/include/torch/csrc/api/include")
  foreach(_lib torch torch_cpu c10)
    list(APPEND _imp_torch_libs "${_imp_torch_dir}/lib/lib${_lib}.so")
  endforeach()
  target_link_libraries(imp_torch_cpu INTERFACE ${_imp_torch_libs})
  target_compile_features(imp_torch_cpu INTERFACE cxx_std_20)
  set(TORCH_LIBRARIES imp_torch_cpu)
  set(TORCH_CXX_FLAGS "-D_GLIBCXX_USE_CXX11_ABI=${_imp_cxx11_abi}")
  set(Torch_VERSION "${_imp_torch_version}")
  set(Torch_DIR "${_imp_torch_dir}")
endif()
