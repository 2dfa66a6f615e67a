# imp_add_test(NAME <bin> SRCS <files...> LABELS <labels...> [NO_TORCH] [LIBS <libs...>]): one
# GoogleTest binary per group, every test case registered with CTest and labelled. NO_TORCH links only
# the torch-free libraries in LIBS (default imp_format): fast to build, no LibTorch in the process.
find_package(GTest QUIET)
if(NOT GTest_FOUND)
  # No libgtest-dev (a GPU node without apt): build the carried googletest source (scripts/pack_deps.sh).
  if(NOT EXISTS "${IMP_THIRD_PARTY_DIR}/googletest/CMakeLists.txt")
    message(FATAL_ERROR "imp: GoogleTest not found: ${_imp_missing_hint}, or configure with -DIMP_BUILD_TESTS=OFF")
  endif()
  set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
  add_subdirectory("${IMP_THIRD_PARTY_DIR}/googletest" "${CMAKE_BINARY_DIR}/googletest" EXCLUDE_FROM_ALL)
endif()
include(GoogleTest)

function(imp_add_test)
  cmake_parse_arguments(T "NO_TORCH" "NAME" "SRCS;LABELS;LIBS" ${ARGN})
  add_executable(${T_NAME} ${T_SRCS})
  if(T_NO_TORCH)
    if(NOT T_LIBS)
      set(T_LIBS imp_format)
    endif()
    target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main imp_warnings)
  else()
    target_link_libraries(${T_NAME} PRIVATE imp_lib ${T_LIBS} GTest::gtest GTest::gtest_main imp_warnings)
    if(IMP_USE_PCH)
      target_precompile_headers(${T_NAME} REUSE_FROM imp_lib)
    endif()
  endif()
  target_include_directories(${T_NAME} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  target_compile_definitions(${T_NAME} PRIVATE IMP_TEST_DATA="${PROJECT_SOURCE_DIR}/tests/data"
                                                 IMP_BINARY="$<TARGET_FILE:imp>")
  gtest_discover_tests(${T_NAME} PROPERTIES LABELS "${T_LABELS}" DISCOVERY_TIMEOUT 120)
endfunction()
