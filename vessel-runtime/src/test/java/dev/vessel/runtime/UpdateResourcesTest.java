package dev.vessel.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.vessel.oci.OciException;
import org.junit.jupiter.api.Test;

class UpdateResourcesTest {
    @Test
    void zerosAndEmptyGroupsGo() {
        var r = UpdateResources.parse("{\"memory\":{\"limit\":0,\"reservation\":0,\"kernel\":0},"
                + "\"cpu\":{\"shares\":0,\"quota\":50000,\"period\":100000,\"cpus\":\"\"},\"blockIO\":{\"weight\":0}}", "-");
        assertEquals("{\"cpu\":{\"quota\":50000,\"period\":100000}}", r.toString());
    }

    @Test
    void setValuesStay() {
        var r = UpdateResources.parse("{\"memory\":{\"limit\":268435456,\"swap\":-1},\"pids\":{\"limit\":-1},"
                + "\"cpu\":{\"cpus\":\"0-1\"},\"unified\":{\"memory.high\":\"1000\"}}", "f.json");
        assertEquals("{\"memory\":{\"limit\":268435456,\"swap\":-1},\"pids\":{\"limit\":-1},"
                + "\"cpu\":{\"cpus\":\"0-1\"},\"unified\":{\"memory.high\":\"1000\"}}", r.toString());
    }

    @Test
    void notJsonIsOneLine() {
        assertEquals("update: --resources f.json is not JSON",
                assertThrows(OciException.class, () -> UpdateResources.parse("{nope", "f.json")).getMessage());
        assertEquals("update: --resources - is not a JSON object",
                assertThrows(OciException.class, () -> UpdateResources.parse("[1]", "-")).getMessage());
    }
}
