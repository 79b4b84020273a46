/**
 * The resource view of {@code container} isolation: /proc and /sys files rendered for the calling
 * process from its cgroup, served over FUSE, and the numbers {@code sysinfo(2)} reports.
 */
package dev.vessel.view;
