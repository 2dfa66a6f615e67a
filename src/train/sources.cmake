# Training: schedule, loss scaler, checkpoint protocol and the activation estimate are torch-free
# (imp_train_core, unit-tested without LibTorch); the optimizer, model assembly, trainer and merge live in imp_lib.
add_library(imp_train_core STATIC
  ${CMAKE_CURRENT_LIST_DIR}/schedule.cpp
  ${CMAKE_CURRENT_LIST_DIR}/activation_estimate.cpp
  ${CMAKE_CURRENT_LIST_DIR}/loss_scaler.cpp
  ${CMAKE_CURRENT_LIST_DIR}/checkpoint.cpp
  ${CMAKE_CURRENT_LIST_DIR}/signals.cpp
  ${CMAKE_CURRENT_LIST_DIR}/metrics.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tensorboard.cpp
)
target_link_libraries(imp_train_core PUBLIC imp_format PRIVATE imp_warnings)
target_link_libraries(imp_lib PUBLIC imp_train_core)
target_sources(imp_lib PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/flops.cpp
  ${CMAKE_CURRENT_LIST_DIR}/checkpoint_plan.cpp
  ${CMAKE_CURRENT_LIST_DIR}/optimizer.cpp
  ${CMAKE_CURRENT_LIST_DIR}/grad_sync.cpp
  ${CMAKE_CURRENT_LIST_DIR}/zero_optimizer.cpp
  ${CMAKE_CURRENT_LIST_DIR}/memory_plan.cpp
  ${CMAKE_CURRENT_LIST_DIR}/train_model.cpp
  ${CMAKE_CURRENT_LIST_DIR}/merge.cpp
)
if(IMP_WITH_OPENCV)
  target_sources(imp_lib PRIVATE ${CMAKE_CURRENT_LIST_DIR}/trainer.cpp)
endif()
