# Training arguments (torch-free): flag table, argv/--config parsing, validation, --help text.
add_library(imp_train_args STATIC
  ${CMAKE_CURRENT_LIST_DIR}/fields.cpp
  ${CMAKE_CURRENT_LIST_DIR}/args.cpp
  ${CMAKE_CURRENT_LIST_DIR}/parse.cpp
  ${CMAKE_CURRENT_LIST_DIR}/validate.cpp
  ${CMAKE_CURRENT_LIST_DIR}/help.cpp
)
target_link_libraries(imp_train_args PUBLIC imp_format PRIVATE imp_warnings)
target_link_libraries(imp_lib PUBLIC imp_train_args)
