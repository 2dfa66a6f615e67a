# Data parallel: FT-6 launcher matrix and imp launch planning (torch-free), multi-process Gloo tests (FT-4/5).
imp_add_test(NAME imp_dist_unit_tests LABELS unit NO_TORCH LIBS imp_dist_launch SRCS
  dist/launch_env_test.cpp
)
imp_add_test(NAME imp_dist_integration_tests LABELS integration NO_TORCH LIBS imp_dist_launch SRCS
  dist/dist_integration_test.cpp
)
add_dependencies(imp_dist_integration_tests imp)
# The torchrun of the torch imp links (wheel venv, or Debian's python3-torch for Debian's LibTorch): another
# torch's TCPStore cannot talk to this imp's.
target_compile_definitions(imp_dist_integration_tests PRIVATE IMP_TORCHRUN="${IMP_TORCHRUN}")
