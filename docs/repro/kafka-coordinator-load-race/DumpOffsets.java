import java.io.File;
import java.nio.ByteBuffer;
import org.apache.kafka.common.protocol.ByteBufferAccessor;
import org.apache.kafka.common.record.internal.*;
import org.apache.kafka.coordinator.group.generated.*;

public class DumpOffsets {
    public static void main(String[] a) throws Exception {
        String group = a.length > 1 ? a[1] : null;
        try (FileRecords fr = FileRecords.open(new File(a[0]))) {
            for (FileLogInputStream.FileChannelRecordBatch b : fr.batches()) {
                String head = String.format("batch base=%d last=%d pid=%d epoch=%d txn=%s ctl=%s ts=%d", b.baseOffset(), b.lastOffset(), b.producerId(), b.producerEpoch(), b.isTransactional(), b.isControlBatch(), b.maxTimestamp());
                if (b.isControlBatch()) {
                    for (org.apache.kafka.common.record.internal.Record r : b) {
                        ControlRecordType t = ControlRecordType.parse(r.key());
                        System.out.println(head + " CONTROL " + t + " @" + r.offset());
                    }
                    continue;
                }
                StringBuilder sb = new StringBuilder();
                boolean any = false;
                for (org.apache.kafka.common.record.internal.Record r : b) {
                    ByteBuffer k = r.key().duplicate();
                    short kv = k.getShort();
                    if (kv == 0 || kv == 1) {
                        OffsetCommitKey key = new OffsetCommitKey(new ByteBufferAccessor(k), (short) 0);
                        if (group != null && !key.group().equals(group)) continue;
                        String val = "tombstone";
                        if (r.hasValue()) {
                            ByteBuffer v = r.value().duplicate();
                            short vv = v.getShort();
                            OffsetCommitValue value = new OffsetCommitValue(new ByteBufferAccessor(v), vv);
                            val = String.valueOf(value.offset());
                        }
                        sb.append(" ").append(key.topic()).append("-").append(key.partition()).append("=").append(val);
                        any = true;
                    } else if (group == null) {
                        sb.append(" k").append(kv);
                        any = true;
                    }
                }
                if (any || b.isTransactional()) System.out.println(head + sb);
            }
        }
    }
}
