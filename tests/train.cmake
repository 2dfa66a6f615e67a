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
add_test(NAME train.recipe_bench_args COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/train/recipe_bench_test.sh
         ${PROJECT_SOURCE_DIR} $<TARGET_FILE:imp>)
set_tests_properties(train.recipe_bench_args PROPERTIES LABELS unit TIMEOUT 60)
