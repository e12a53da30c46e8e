package jgpt.train;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import jgpt.dist.Comm;
import jgpt.dist.Sharding.Range;
import jgpt.model.FlatBuffer;
import jgpt.model.GPTConfig;
import jgpt.model.ParamLayout;
import jgpt.util.UserError;

/**
 * A checkpoint written by every rank at once, without gathering: {@code RUN/ckpt-shards/} holds
 * {@code rank-R.bin} (rank R's owned ranges of the parameters, then the same ranges of AdamW's m,
 * then of v, raw little-endian f32) and {@code index.json} (what {@link Checkpoint}'s header
 * records, plus each file's ranges). The files together cover the flat buffers exactly once, so
 * any number of ranks with any strategy can load it: each reads every file into its full-size
 * buffers and then releases what it does not own. Saving writes {@code ckpt-shards.tmp/} and
 * renames it into place once every rank has finished, so a crash leaves the previous one.
 */
public final class ShardedCheckpoint {
    public static final String DIR = "ckpt-shards";
    public static final String INDEX = "index.json";

    private ShardedCheckpoint() {}

    public static boolean exists(Path runDir) {
        return Files.isRegularFile(runDir.resolve(DIR).resolve(INDEX));
    }

    /** Collective: every rank writes its ranges; {@code rangesByRank} is the same on every rank. */
    public static void save(Path runDir, Checkpoint.State state, Comm comm, List<List<Range>> rangesByRank,
                            FlatBuffer params, AdamW opt) {
        Path tmp = runDir.resolve(DIR + ".tmp"), dir = runDir.resolve(DIR), old = runDir.resolve(DIR + ".old");
        int rank = comm.rank();
        try {
            if (rank == 0) {
                deleteTree(tmp);
                Files.createDirectories(tmp);
            }
            comm.barrier();
            List<Range> mine = rangesByRank.get(rank);
            if (!mine.isEmpty()) {
                try (FileChannel ch = FileChannel.open(tmp.resolve(file(rank)), StandardOpenOption.CREATE,
                        StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                    for (FlatBuffer b : new FlatBuffer[] {params, opt.m(), opt.v()}) {
                        for (Range r : mine) Checkpoint.write(ch, b.data().asSlice(r.from() * 4, r.length() * 4));
                    }
                    ch.force(true);
                }
            }
            comm.barrier();
            if (rank == 0) {
                Files.writeString(tmp.resolve(INDEX), index(state, params.numel(), rangesByRank).toPrettyString());
                try (FileChannel ch = FileChannel.open(tmp.resolve(INDEX), StandardOpenOption.WRITE)) {
                    ch.force(true);
                }
                Checkpoint.fsyncDirectory(tmp);
                deleteTree(old);
                if (Files.exists(dir)) Files.move(dir, old, StandardCopyOption.ATOMIC_MOVE);
                Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
                Checkpoint.fsyncDirectory(runDir);
                deleteTree(old);
            }
            comm.barrier();
        } catch (IOException e) {
            throw new UncheckedIOException("rank " + rank + ": cannot write sharded checkpoint in " + runDir + ": " + e.getMessage(), e);
        }
    }

    private static String file(int rank) {
        return "rank-" + rank + ".bin";
    }

    private static ObjectNode index(Checkpoint.State s, long numel, List<List<Range>> rangesByRank) {
        ObjectNode h = MetricsLog.JSON.createObjectNode();
        h.put("format", "jgpt-sharded-checkpoint").put("version", 1);
        h.set("model", Checkpoint.modelJson(s.model()));
        h.set("train", s.train().toJson());
        h.set("tokenizer", s.tokenizer());
        h.put("step", s.step()).put("rng_state", s.rngState()).put("data_position", s.dataPosition());
        h.put("numel", numel).put("world", rangesByRank.size());
        ArrayNode files = h.putArray("files");
        for (int r = 0; r < rangesByRank.size(); r++) {
            if (rangesByRank.get(r).isEmpty()) continue;
            ObjectNode f = files.addObject().put("file", file(r));
            ArrayNode rs = f.putArray("ranges");
            for (Range x : rangesByRank.get(r)) rs.addArray().add(x.from()).add(x.to());
        }
        return h;
    }

    /** An opened index: its state, and a way to read the tensors. */
    public record Loaded(Path dir, Checkpoint.State state, JsonNode index) {
        /** Reads every shard into the full buffers (all ranks read all files). */
        public void loadInto(FlatBuffer params, AdamW opt) {
            if (params.numel() != index.path("numel").asLong()) {
                throw new UserError(dir + ": checkpoint of " + index.path("numel").asLong() + " floats, model has " + params.numel());
            }
            long covered = 0;
            for (JsonNode f : index.path("files")) {
                Path file = dir.resolve(f.path("file").asText());
                List<Range> ranges = new ArrayList<>();
                long len = 0;
                for (JsonNode r : f.path("ranges")) {
                    Range x = new Range(r.get(0).asLong(), r.get(1).asLong());
                    if (x.from() < 0 || x.to() > params.numel() || x.from() > x.to()) throw new UserError(file + ": bad range " + r);
                    ranges.add(x);
                    len += x.length();
                }
                covered += len;
                try (Arena arena = Arena.ofConfined(); FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                    if (ch.size() != 3 * len * 4) {
                        throw new UserError(file + ": truncated shard (expected " + 3 * len * 4 + " bytes, found " + ch.size() + ")");
                    }
                    MemorySegment all = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
                    long at = 0;
                    for (FlatBuffer b : new FlatBuffer[] {params, opt.m(), opt.v()}) {
                        for (Range x : ranges) {
                            MemorySegment.copy(all, at, b.data(), x.from() * 4, x.length() * 4);
                            at += x.length() * 4;
                        }
                    }
                } catch (IOException e) {
                    throw new UserError("cannot read " + file + ": " + e.getMessage());
                }
            }
            if (covered != params.numel()) throw new UserError(dir + ": shards cover " + covered + " of " + params.numel() + " floats");
        }
    }

    public static Loaded load(Path runDir) {
        Path dir = runDir.resolve(DIR), file = dir.resolve(INDEX);
        JsonNode h;
        try {
            h = MetricsLog.JSON.readTree(Files.readString(file, StandardCharsets.UTF_8));
        } catch (JacksonException e) {
            throw new UserError(file + ": not valid JSON (" + e.getOriginalMessage() + ")");
        } catch (IOException e) {
            throw new UserError("cannot read " + file + ": " + e.getMessage());
        }
        GPTConfig model = Checkpoint.modelFromJson(file, h.path("model"));
        if (ParamLayout.of(model).numel() != h.path("numel").asLong()) throw new UserError(file + ": numel does not match the model");
        Checkpoint.State state = new Checkpoint.State(model, TrainConfig.fromJson(h.path("train"), file + " (train config)"),
                Checkpoint.required(file, h, "tokenizer"), Checkpoint.required(file, h, "step").asLong(),
                Checkpoint.required(file, h, "rng_state").asLong(), Checkpoint.required(file, h, "data_position").asLong());
        return new Loaded(dir, state, h);
    }

    private static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (Stream<Path> s = Files.walk(p)) {
            for (Path x : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(x);
        }
    }
}
