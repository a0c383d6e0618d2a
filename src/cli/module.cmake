# The bulwark binary is defined in the top-level CMakeLists.txt, after every
# module, so it can link them all.
