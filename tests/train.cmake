imp_add_test(NAME imp_train_core_tests LABELS unit NO_TORCH LIBS imp_train_core SRCS
  train/train_core_test.cpp
)
imp_add_test(NAME imp_train_unit_tests LABELS unit SRCS
  train/train_unit_test.cpp
  train/flops_test.cpp
  train/recompute_packing_test.cpp
  train/zero_test.cpp
)
if(IMP_WITH_OPENCV)
  imp_add_test(NAME imp_train_tests LABELS integration SRCS
    train/train_integration_test.cpp
  )
  add_dependencies(imp_train_tests imp)
endif()
