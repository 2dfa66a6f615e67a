# Dependencies come from the system (Debian packages) or CMAKE_PREFIX_PATH; nothing is downloaded.
# Other dependencies are found before Torch, whose config scripts change global state.
find_package(Threads REQUIRED)

# Header-only libraries. On machines without them (the GPU machine), point CMAKE_PREFIX_PATH or
# IMP_THIRD_PARTY_INCLUDE at a folder holding nlohmann/, CLI/ and spdlog/ + fmt/ headers.
set(IMP_THIRD_PARTY_INCLUDE "" CACHE PATH "Extra include folder for header-only dependencies")
find_path(IMP_NLOHMANN_INCLUDE nlohmann/json.hpp HINTS ${IMP_THIRD_PARTY_INCLUDE} REQUIRED)
find_path(IMP_CLI11_INCLUDE CLI/CLI.hpp HINTS ${IMP_THIRD_PARTY_INCLUDE} REQUIRED)
add_library(imp_header_deps INTERFACE)
target_include_directories(imp_header_deps SYSTEM INTERFACE ${IMP_NLOHMANN_INCLUDE} ${IMP_CLI11_INCLUDE})

if(IMP_WITH_OPENCV)
  find_package(OpenCV QUIET COMPONENTS core imgproc imgcodecs)
  if(NOT OpenCV_FOUND)
    message(STATUS "imp: OpenCV not found, the image pipeline is not built (IMP_WITH_OPENCV=OFF)")
    set(IMP_WITH_OPENCV OFF)
  endif()
endif()

# c10d Gloo headers include <gloo/...>; LibTorch wheels ship them, Debian needs libgloo-dev.
find_path(IMP_GLOO_INCLUDE gloo/algorithm.h HINTS ${IMP_THIRD_PARTY_INCLUDE})

find_package(Torch REQUIRED)
message(STATUS "imp: LibTorch ${Torch_VERSION} from ${Torch_DIR}")
