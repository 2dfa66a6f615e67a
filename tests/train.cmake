imp_add_test(NAME imp_train_core_tests LABELS unit NO_TORCH LIBS imp_train_core SRCS
  train/train_core_test.cpp
)
