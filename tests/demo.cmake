# The demo area: torch-free unit tests (RNG, scenes, questions, scoring, dataset writer), create-model and
# CLI integration tests, and the scripts' dry runs + Slurm requeue protocol (a shell test).
set(IMP_DEMO_UNIT_SRCS demo/demo_unit_test.cpp demo/loss_curve_test.cpp)
if(IMP_WITH_OPENCV)
  list(APPEND IMP_DEMO_UNIT_SRCS demo/demo_data_test.cpp)
endif()
imp_add_test(NAME imp_demo_tests LABELS unit NO_TORCH LIBS imp_demo SRCS ${IMP_DEMO_UNIT_SRCS})
imp_add_test(NAME imp_demo_model_tests LABELS integration SRCS demo/create_model_test.cpp)
add_dependencies(imp_demo_model_tests imp)

add_test(NAME demo.scripts COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/demo/scripts_test.sh ${PROJECT_SOURCE_DIR})
set_tests_properties(demo.scripts PROPERTIES LABELS unit TIMEOUT 120)
