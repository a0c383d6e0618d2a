# The bulwark binary: the command line over every module.
add_executable(bulwark src/cli/main.c)
get_property(bw_all_modules GLOBAL PROPERTY BW_MODULES)
target_link_libraries(bulwark PRIVATE ${bw_all_modules})
