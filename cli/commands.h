/* The kvlab subcommands; each takes the arguments after its name and returns the
 * process exit status. */
#ifndef KVLAB_CLI_COMMANDS_H
#define KVLAB_CLI_COMMANDS_H

int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_calibrate(int argc, char **argv);
int cmd_calibrate_tsp(int argc, char **argv); /* kvlab calibrate tsp (cli/cmd_calibrate_tsp.c) */
int cmd_run(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_ruler(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
