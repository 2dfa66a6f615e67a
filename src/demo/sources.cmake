# The demo area: imp_demo (torch-free: RNG, scenes, questions, scoring; with OpenCV also drawing and the
# dataset writer) and the LibTorch part (create-model) compiled into imp_lib.
add_library(imp_demo STATIC
  ${CMAKE_CURRENT_LIST_DIR}/rng.cpp
  ${CMAKE_CURRENT_LIST_DIR}/scene.cpp
  ${CMAKE_CURRENT_LIST_DIR}/questions.cpp
  ${CMAKE_CURRENT_LIST_DIR}/score.cpp
  ${CMAKE_CURRENT_LIST_DIR}/loss_curve.cpp
)
target_link_libraries(imp_demo PUBLIC imp_format PRIVATE imp_warnings)
if(IMP_WITH_OPENCV)
  target_sources(imp_demo PRIVATE ${CMAKE_CURRENT_LIST_DIR}/render.cpp ${CMAKE_CURRENT_LIST_DIR}/demo_data.cpp
                             ${CMAKE_CURRENT_LIST_DIR}/loss_plot.cpp)
  target_link_libraries(imp_demo PRIVATE imp_opencv)
  target_compile_definitions(imp_demo PUBLIC IMP_WITH_OPENCV=1)
endif()
target_sources(imp_lib PRIVATE ${CMAKE_CURRENT_LIST_DIR}/create_model.cpp ${CMAKE_CURRENT_LIST_DIR}/tower_design.cpp)
target_link_libraries(imp_lib PUBLIC imp_demo)
