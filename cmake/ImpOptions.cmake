# Every IMP_* option in one place.
option(IMP_BUILD_TESTS "Build the GoogleTest suites" ON)
option(IMP_BUILD_FUZZERS "Build the libFuzzer targets (needs clang)" OFF)
option(IMP_WITH_OPENCV "Build the image pipeline library (needs OpenCV core/imgproc/imgcodecs)" ON)
option(IMP_WERROR "Treat warnings as errors" OFF)
option(IMP_SANITIZE_ADDRESS "Build with AddressSanitizer and UBSan" OFF)
option(IMP_USE_CCACHE "Use ccache when it is installed" ON)
option(IMP_USE_PCH "Precompile torch/torch.h" ON)
