# Dependencies come from the system (Debian packages) or CMAKE_PREFIX_PATH; nothing is downloaded.
# Other dependencies are found before Torch, whose config scripts change global state.
find_package(Threads REQUIRED)

# Machines without apt (a GPU node) use a carried copy of the Debian packages' files: scripts/pack_deps.sh
# writes third_party/ (include/: nlohmann, CLI11, gloo, pcre2.h, utf8proc.h; lib/: static PCRE2 and utf8proc;
# googletest/: its source). The system's copy wins where both exist.
set(IMP_THIRD_PARTY_DIR "${PROJECT_SOURCE_DIR}/third_party" CACHE PATH "Carried dependencies (scripts/pack_deps.sh)")
set(IMP_THIRD_PARTY_INCLUDE "${IMP_THIRD_PARTY_DIR}/include" CACHE PATH "Extra include folder for dependencies")
set(_imp_missing_hint "install it (scripts/setup.sh) or, without apt, carry third_party/ made by scripts/pack_deps.sh")
find_path(IMP_NLOHMANN_INCLUDE nlohmann/json.hpp PATHS ${IMP_THIRD_PARTY_INCLUDE})
find_path(IMP_CLI11_INCLUDE CLI/CLI.hpp PATHS ${IMP_THIRD_PARTY_INCLUDE})
if(NOT IMP_NLOHMANN_INCLUDE OR NOT IMP_CLI11_INCLUDE)
  message(FATAL_ERROR "imp: nlohmann/json.hpp or CLI/CLI.hpp not found: ${_imp_missing_hint}")
endif()
add_library(imp_header_deps INTERFACE)
target_include_directories(imp_header_deps SYSTEM INTERFACE ${IMP_NLOHMANN_INCLUDE} ${IMP_CLI11_INCLUDE})

# OpenCV core/imgproc/imgcodecs: the CMake package when libopencv-dev is installed, else the three libraries of
# the smaller Debian -dev packages found directly, else the static OpenCV of scripts/pack_deps.sh --opencv.
if(IMP_WITH_OPENCV)
  find_package(OpenCV QUIET COMPONENTS core imgproc imgcodecs)
  if(NOT OpenCV_FOUND)
    find_path(IMP_OPENCV_INCLUDE opencv2/core.hpp PATH_SUFFIXES opencv4)
    find_library(IMP_OPENCV_CORE opencv_core)
    find_library(IMP_OPENCV_IMGPROC opencv_imgproc)
    find_library(IMP_OPENCV_IMGCODECS opencv_imgcodecs)
    if(IMP_OPENCV_INCLUDE AND IMP_OPENCV_CORE AND IMP_OPENCV_IMGPROC AND IMP_OPENCV_IMGCODECS)
      set(OpenCV_INCLUDE_DIRS ${IMP_OPENCV_INCLUDE})
      set(OpenCV_LIBS ${IMP_OPENCV_IMGCODECS} ${IMP_OPENCV_IMGPROC} ${IMP_OPENCV_CORE})
    else()
      find_package(OpenCV QUIET COMPONENTS core imgproc imgcodecs PATHS "${IMP_THIRD_PARTY_DIR}/opencv" NO_DEFAULT_PATH)
    endif()
  endif()
  if(OpenCV_LIBS)
    add_library(imp_opencv INTERFACE)
    target_include_directories(imp_opencv SYSTEM INTERFACE ${OpenCV_INCLUDE_DIRS})
    target_link_libraries(imp_opencv INTERFACE ${OpenCV_LIBS})
  else()
    message(STATUS "imp: OpenCV not found, the image pipeline is not built (IMP_WITH_OPENCV=OFF)")
    set(IMP_WITH_OPENCV OFF)
  endif()
endif()
if(IMP_WITH_OPENCV)
  find_package(JPEG QUIET)  # raw CMYK/YCCK JPEG decoding (libjpeg62-turbo-dev)
  if(NOT JPEG_FOUND AND EXISTS "${IMP_THIRD_PARTY_DIR}/lib/libjpeg.a")  # pack_deps.sh --opencv
    set(JPEG_INCLUDE_DIR "${IMP_THIRD_PARTY_INCLUDE}" CACHE PATH "" FORCE)
    set(JPEG_LIBRARY "${IMP_THIRD_PARTY_DIR}/lib/libjpeg.a" CACHE FILEPATH "" FORCE)
    find_package(JPEG QUIET)
  endif()
  if(NOT JPEG_FOUND)
    message(STATUS "imp: libjpeg not found, the image pipeline is not built (IMP_WITH_OPENCV=OFF)")
    set(IMP_WITH_OPENCV OFF)
  endif()
endif()

# Tokenizers: PCRE2 (Unicode classes, lookahead in the Qwen2/GPT-2 pre-tokenizer regexes) and utf8proc (NFC).
find_path(IMP_PCRE2_INCLUDE pcre2.h PATHS ${IMP_THIRD_PARTY_INCLUDE})
find_library(IMP_PCRE2_LIB pcre2-8 PATHS ${IMP_THIRD_PARTY_DIR}/lib)
find_path(IMP_UTF8PROC_INCLUDE utf8proc.h PATHS ${IMP_THIRD_PARTY_INCLUDE})
find_library(IMP_UTF8PROC_LIB utf8proc PATHS ${IMP_THIRD_PARTY_DIR}/lib)
if(NOT IMP_PCRE2_INCLUDE OR NOT IMP_PCRE2_LIB OR NOT IMP_UTF8PROC_INCLUDE OR NOT IMP_UTF8PROC_LIB)
  message(FATAL_ERROR "imp: PCRE2 (libpcre2-dev) or utf8proc (libutf8proc-dev) not found: ${_imp_missing_hint}")
endif()
add_library(imp_text_deps INTERFACE)
target_include_directories(imp_text_deps SYSTEM INTERFACE ${IMP_PCRE2_INCLUDE} ${IMP_UTF8PROC_INCLUDE})
target_link_libraries(imp_text_deps INTERFACE ${IMP_PCRE2_LIB} ${IMP_UTF8PROC_LIB})
target_compile_definitions(imp_text_deps INTERFACE PCRE2_CODE_UNIT_WIDTH=8)

# cpp-httplib for `imp serve` (libcpp-httplib-dev). Debian builds it as a header of declarations plus a shared
# library (libcpp-httplib.so.0.11); scripts/pack_deps.sh carries both. imp uses only httplib::Server, whose
# layout does not depend on the library's SSL/zlib/brotli options. Without it imp builds without serve/chat.
find_path(IMP_HTTPLIB_INCLUDE httplib.h PATHS ${IMP_THIRD_PARTY_INCLUDE})
find_library(IMP_HTTPLIB_LIB cpp-httplib PATHS ${IMP_THIRD_PARTY_DIR}/lib)
if(IMP_HTTPLIB_INCLUDE AND IMP_HTTPLIB_LIB)
  set(IMP_WITH_SERVE ON)
  add_library(imp_httplib INTERFACE)
  target_include_directories(imp_httplib SYSTEM INTERFACE ${IMP_HTTPLIB_INCLUDE})
  target_link_libraries(imp_httplib INTERFACE ${IMP_HTTPLIB_LIB} Threads::Threads)
else()
  set(IMP_WITH_SERVE OFF)
  message(STATUS "imp: cpp-httplib (libcpp-httplib-dev) not found, `imp serve` and `imp chat` are not built")
endif()

# c10d Gloo headers include <gloo/...>; LibTorch wheels ship them, Debian needs libgloo-dev.
find_path(IMP_GLOO_INCLUDE gloo/algorithm.h PATHS ${IMP_THIRD_PARTY_INCLUDE})

include(ImpTorch)
message(STATUS "imp: LibTorch ${Torch_VERSION} (${IMP_TORCH_KIND}) from ${Torch_DIR}, CUDA ${IMP_TORCH_CUDA}")
