dnl IB_CHECK_CFLAG(FLAG, ACTION-IF-OK): does the C compiler take FLAG (with -Werror)?
AC_DEFUN([IB_CHECK_CFLAG], [
        AS_VAR_PUSHDEF([ib_cv], [ib_cv_cflag_$1])
        AC_CACHE_CHECK([whether $CC accepts $1], [ib_cv], [
                ib_save_CFLAGS=$CFLAGS
                CFLAGS="$CFLAGS -Werror $1"
                AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [])], [AS_VAR_SET([ib_cv], [yes])], [AS_VAR_SET([ib_cv], [no])])
                CFLAGS=$ib_save_CFLAGS])
        AS_VAR_IF([ib_cv], [yes], [$2])
        AS_VAR_POPDEF([ib_cv])
])
