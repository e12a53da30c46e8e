package jgpt.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import jgpt.dist.Launcher;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two "hosts" on one machine: two network namespaces joined by a veth pair, one rank in each,
 * talking MPI over TCP only ({@code --mca btl tcp,self}). mpirun runs in the first namespace and
 * starts the remote rank's daemon through {@code plm_rsh_agent}, a script that stands in for ssh
 * by running the command with {@code ip netns exec}. Needs root and iproute2; skipped otherwise.
 */
class TwoHostTest {
    private static final String NS_A = "jgpt" + ProcessHandle.current().pid() + "a";
    private static final String NS_B = "jgpt" + ProcessHandle.current().pid() + "b";
    private static final String IP_A = "10.199.77.1", IP_B = "10.199.77.2", NET = "10.199.77.0/24";
    private static boolean created;

    @TempDir Path dir;

    @Test
    void ddpAndFsdpAcrossTwoNetworkNamespacesMatchOneProcess() throws Exception {
        assumeTrue(Launcher.findMpirun().isPresent(), "mpirun is not on PATH (apt-get install openmpi-bin)");
        String why = setUpNamespaces();
        if (why != null) System.err.println("TwoHostTest SKIPPED: " + why);
        assumeTrue(why == null, why);

        Path data = dir.resolve("data");
        DistTrainJob.writeData(data);
        String kase = "tied-accum2";
        new Trainer(DistTrainJob.config(kase, 1, DistTrainJob.STEPS), data, dir.resolve("np1-" + kase), false,
                DistTrainJob.QUIET).run();

        Path agent = dir.resolve("netns-agent.sh");
        Files.writeString(agent, """
                #!/bin/sh
                # mpirun's plm_rsh_agent: called as "agent HOST COMMAND..." like ssh; runs COMMAND in HOST's namespace
                host=$1; shift
                case "$host" in
                  %s) ns=%s ;;
                  %s) ns=%s ;;
                  *) echo "netns-agent: unknown host $host" >&2; exit 1 ;;
                esac
                exec ip netns exec "$ns" sh -c "$*"
                """.formatted(IP_A, NS_A, IP_B, NS_B));
        Files.setPosixFilePermissions(agent, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path hosts = dir.resolve("hostfile");
        Files.writeString(hosts, IP_A + " slots=1\n" + IP_B + " slots=1\n");

        for (String strategy : List.of("ddp", "fsdp")) {
            List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", NS_A));
            List<String> mpi = Launcher.command(2, DistTrainJob.class.getName(),
                    List.of(strategy, dir.toString(), data.toString(), kase));
            cmd.add(mpi.get(0));
            cmd.addAll(List.of("--hostfile", hosts.toString(), "--mca", "plm_rsh_agent", agent.toString(),
                    "--mca", "btl", "tcp,self", "--mca", "btl_tcp_if_include", NET, "--mca", "oob_tcp_if_include", NET,
                    "--map-by", "node"));
            cmd.addAll(mpi.subList(1, mpi.size()));
            DistributedTrainingTest.Job r = DistributedTrainingTest.run(cmd, 300);
            assertThat(r.exitCode()).as("mpirun exit code").isZero();
            Path run = dir.resolve("np2-" + strategy + "-" + kase), ref = dir.resolve("np1-" + kase);
            DistributedTrainingTest.assertClose("two hosts " + strategy + " loss",
                    DistributedTrainingTest.column(run, "loss"), DistributedTrainingTest.column(ref, "loss"));
            DistributedTrainingTest.assertParamsClose("two hosts " + strategy, run, ref);
        }
    }

    /** Creates the namespaces and the veth pair; returns why not, or null. */
    private static String setUpNamespaces() throws Exception {
        if (!"root".equals(System.getProperty("user.name"))) return "needs root to create network namespaces";
        String[][] steps = {
                {"ip", "netns", "add", NS_A}, {"ip", "netns", "add", NS_B},
                {"ip", "link", "add", NS_A, "type", "veth", "peer", "name", NS_B},
                {"ip", "link", "set", NS_A, "netns", NS_A}, {"ip", "link", "set", NS_B, "netns", NS_B},
                {"ip", "-n", NS_A, "addr", "add", IP_A + "/24", "dev", NS_A},
                {"ip", "-n", NS_B, "addr", "add", IP_B + "/24", "dev", NS_B},
                {"ip", "-n", NS_A, "link", "set", NS_A, "up"}, {"ip", "-n", NS_B, "link", "set", NS_B, "up"},
                {"ip", "-n", NS_A, "link", "set", "lo", "up"}, {"ip", "-n", NS_B, "link", "set", "lo", "up"},
        };
        created = true;
        for (String[] step : steps) {
            Process p;
            try {
                p = new ProcessBuilder(step).redirectErrorStream(true).start();
            } catch (java.io.IOException e) {
                return "cannot run " + step[0] + " (apt-get install iproute2): " + e.getMessage();
            }
            String out = new String(p.getInputStream().readAllBytes());
            if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
                return "'" + String.join(" ", step) + "' failed (not permitted here?): " + out.strip();
            }
        }
        return null;
    }

    @AfterAll
    static void tearDown() throws Exception {
        if (!created) return;
        for (String ns : List.of(NS_A, NS_B)) { // deleting a namespace deletes its end of the veth pair
            new ProcessBuilder("ip", "netns", "del", ns).redirectErrorStream(true).start().waitFor(30, TimeUnit.SECONDS);
        }
    }
}
