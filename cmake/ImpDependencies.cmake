# Dependencies come from the system (Debian packages) or CMAKE_PREFIX_PATH; nothing is downloaded.
# Other dependencies are found before Torch, whose config scripts change global state.
find_package(Threads REQUIRED)

# Header-only libraries. On machines without them (the GPU machine), point CMAKE_PREFIX_PATH or
# IMP_THIRD_PARTY_INCLUDE at a folder holding the nlohmann/ and CLI/ headers.
set(IMP_THIRD_PARTY_INCLUDE "" CACHE PATH "Extra include folder for header-only dependencies")
find_path(IMP_NLOHMANN_INCLUDE nlohmann/json.hpp HINTS ${IMP_THIRD_PARTY_INCLUDE} REQUIRED)
find_path(IMP_CLI11_INCLUDE CLI/CLI.hpp HINTS ${IMP_THIRD_PARTY_INCLUDE} REQUIRED)
add_library(imp_header_deps INTERFACE)
target_include_directories(imp_header_deps SYSTEM INTERFACE ${IMP_NLOHMANN_INCLUDE} ${IMP_CLI11_INCLUDE})

# OpenCV core/imgproc/imgcodecs: the CMake package when libopencv-dev is installed, else the three
# libraries of the smaller Debian -dev packages found directly.
if(IMP_WITH_OPENCV)
  find_package(OpenCV QUIET COMPONENTS core imgproc imgcodecs)
  if(OpenCV_FOUND)
    add_library(imp_opencv INTERFACE)
    target_include_directories(imp_opencv SYSTEM INTERFACE ${OpenCV_INCLUDE_DIRS})
    target_link_libraries(imp_opencv INTERFACE ${OpenCV_LIBS})
  else()
    find_path(IMP_OPENCV_INCLUDE opencv2/core.hpp PATH_SUFFIXES opencv4)
    find_library(IMP_OPENCV_CORE opencv_core)
    find_library(IMP_OPENCV_IMGPROC opencv_imgproc)
    find_library(IMP_OPENCV_IMGCODECS opencv_imgcodecs)
    if(IMP_OPENCV_INCLUDE AND IMP_OPENCV_CORE AND IMP_OPENCV_IMGPROC AND IMP_OPENCV_IMGCODECS)
      add_library(imp_opencv INTERFACE)
      target_include_directories(imp_opencv SYSTEM INTERFACE ${IMP_OPENCV_INCLUDE})
      target_link_libraries(imp_opencv INTERFACE ${IMP_OPENCV_IMGCODECS} ${IMP_OPENCV_IMGPROC} ${IMP_OPENCV_CORE})
    else()
      message(STATUS "imp: OpenCV not found, the image pipeline is not built (IMP_WITH_OPENCV=OFF)")
      set(IMP_WITH_OPENCV OFF)
    endif()
  endif()
endif()

# Tokenizers: PCRE2 (Unicode classes, lookahead in the Qwen2/GPT-2 pre-tokenizer regexes) and utf8proc (NFC).
find_path(IMP_PCRE2_INCLUDE pcre2.h REQUIRED)
find_library(IMP_PCRE2_LIB pcre2-8 REQUIRED)
find_path(IMP_UTF8PROC_INCLUDE utf8proc.h REQUIRED)
find_library(IMP_UTF8PROC_LIB utf8proc REQUIRED)
add_library(imp_text_deps INTERFACE)
target_include_directories(imp_text_deps SYSTEM INTERFACE ${IMP_PCRE2_INCLUDE} ${IMP_UTF8PROC_INCLUDE})
target_link_libraries(imp_text_deps INTERFACE ${IMP_PCRE2_LIB} ${IMP_UTF8PROC_LIB})
target_compile_definitions(imp_text_deps INTERFACE PCRE2_CODE_UNIT_WIDTH=8)

# c10d Gloo headers include <gloo/...>; LibTorch wheels ship them, Debian needs libgloo-dev.
find_path(IMP_GLOO_INCLUDE gloo/algorithm.h HINTS ${IMP_THIRD_PARTY_INCLUDE})

find_package(Torch REQUIRED)
message(STATUS "imp: LibTorch ${Torch_VERSION} from ${Torch_DIR}")
