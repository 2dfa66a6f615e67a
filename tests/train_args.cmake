# Training-argument parser (torch-free).
imp_add_test(NAME imp_train_args_tests LABELS unit NO_TORCH LIBS imp_train_args SRCS
  train_args/parse_test.cpp
  train_args/config_test.cpp
  train_args/validate_test.cpp
  train_args/scripts_test.cpp
)
