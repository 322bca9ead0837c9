/* version.h - the one version string of ftpalgd and ftpalg. */
#ifndef FTPALG_VERSION_H
#define FTPALG_VERSION_H
#define FTPALG_VERSION "0.1.0"
#endif
