package dev.vessel.firecracker;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.cfg.CoercionAction;
import com.fasterxml.jackson.databind.cfg.CoercionInputShape;
import com.fasterxml.jackson.databind.deser.std.StdScalarDeserializer;
import com.fasterxml.jackson.databind.deser.std.StringDeserializer;
import com.fasterxml.jackson.databind.exc.InvalidFormatException;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.databind.type.LogicalType;

import java.io.IOException;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Firecracker's request bodies, read strictly before anything reaches QEMU: unknown fields, a
 * value of the wrong JSON type (no "2" for 2, no 1 for true, no 1.5 for 1, no 5 for "5"), trailing
 * data and bodies over {@value #MAX_BODY} bytes (Firecracker's default payload limit) are 400s,
 * and so is a missing required field ({@link Model.Validated}). Each message names the field.
 */
public final class ApiJson {
    /** Firecracker's default {@code --http-api-max-payload-size}. */
    public static final int MAX_BODY = 51200;
    /**
     * The payload limit of the server answering this request ({@code --http-api-max-payload-size}):
     * one daemon serves many VMs, each with its own limit, so it is bound per request, not global.
     */
    static final ScopedValue<Integer> MAX_BODY_LIMIT = ScopedValue.newInstance();
    static final String PREFIX = "An error occurred when deserializing the json body of a request: ";

    public static final ObjectMapper MAPPER = strictMapper();

    private ApiJson() {
    }

    private static ObjectMapper strictMapper() {
        ObjectMapper m = JsonMapper.builder()
                .propertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
                .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
                .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
                .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
                .enable(DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY)
                .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT)
                .disable(DeserializationFeature.ACCEPT_SINGLE_VALUE_AS_ARRAY)
                .disable(MapperFeature.ALLOW_COERCION_OF_SCALARS)
                .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
                .build();
        for (LogicalType t : new LogicalType[]{LogicalType.Integer, LogicalType.Float, LogicalType.Boolean,
                LogicalType.Textual, LogicalType.POJO, LogicalType.Collection, LogicalType.Map}) {
            m.coercionConfigFor(t)
                    .setCoercion(CoercionInputShape.String, t == LogicalType.Textual ? CoercionAction.TryConvert : CoercionAction.Fail)
                    .setCoercion(CoercionInputShape.Integer, t == LogicalType.Integer ? CoercionAction.TryConvert : CoercionAction.Fail)
                    .setCoercion(CoercionInputShape.Float, t == LogicalType.Float ? CoercionAction.TryConvert : CoercionAction.Fail)
                    .setCoercion(CoercionInputShape.Boolean, t == LogicalType.Boolean ? CoercionAction.TryConvert : CoercionAction.Fail)
                    .setCoercion(CoercionInputShape.EmptyString, CoercionAction.Fail)
                    .setCoercion(CoercionInputShape.EmptyArray, CoercionAction.Fail)
                    .setCoercion(CoercionInputShape.EmptyObject, t == LogicalType.POJO || t == LogicalType.Map
                            ? CoercionAction.TryConvert : CoercionAction.Fail);
        }
        m.coercionConfigFor(LogicalType.Textual).setAcceptBlankAsEmpty(false);
        m.registerModule(new SimpleModule("no-nul-strings").addDeserializer(String.class, new NoNulStrings()));
        return m;
    }

    /** A string field holding U+0000: no path, name or argument can carry one, so it is a 400 naming the field. */
    static final class NulCharacterException extends JsonMappingException {
        NulCharacterException(JsonParser p) {
            super(p, "a NUL character");
        }
    }

    /** Jackson's own String reading (with the coercion rules above), refusing NUL characters. */
    private static final class NoNulStrings extends StdScalarDeserializer<String> {
        NoNulStrings() {
            super(String.class);
        }

        @Override
        public String deserialize(JsonParser p, DeserializationContext ctxt) throws IOException {
            String s = StringDeserializer.instance.deserialize(p, ctxt);
            if (s != null && s.indexOf('\0') >= 0) throw new NulCharacterException(p);
            return s;
        }

        @Override
        public LogicalType logicalType() {
            return LogicalType.Textual;
        }
    }

    /** Reads and checks a body: 400 naming the field when it is not a valid {@code type}. */
    public static <T> T parse(byte[] body, Class<T> type) throws ApiException {
        if (body.length > maxBody()) throw tooLarge(body.length);
        return parseAnySize(body, type);
    }

    /** As {@link #parse}, without the payload limit (a --config-file is not a request). */
    public static <T> T parseAnySize(byte[] body, Class<T> type) throws ApiException {
        if (body.length == 0 || new String(body, java.nio.charset.StandardCharsets.UTF_8).isBlank()) {
            throw ApiException.badRequest(PREFIX + "the request has no body (a JSON object is expected)");
        }
        T value;
        try (JsonParser p = MAPPER.createParser(body)) {
            if (p.nextToken() != com.fasterxml.jackson.core.JsonToken.START_OBJECT) {
                throw ApiException.badRequest(PREFIX + "expected a JSON object");
            }
            value = MAPPER.readValue(p, type);
        } catch (JsonProcessingException e) {
            throw ApiException.badRequest(PREFIX + describe(e));
        } catch (IOException e) {
            throw ApiException.badRequest(PREFIX + e.getMessage());
        }
        if (value instanceof Model.Validated v) v.validate();
        return value;
    }

    public static ApiException tooLarge(long size) {
        return ApiException.badRequest("Request payload with size " + size + " is larger than the limit of "
                + maxBody() + " allowed by server.");
    }

    /** The payload limit now in force ({@code --http-api-max-payload-size}; default {@value #MAX_BODY}). */
    public static int maxBody() {
        return MAX_BODY_LIMIT.orElse(MAX_BODY);
    }

    /** One line naming the field and what was wrong with it. */
    static String describe(JsonProcessingException e) {
        if (e instanceof NulCharacterException n) {
            return "field `" + path(n) + "`: contains a NUL character (\\u0000)";
        }
        if (e instanceof UnrecognizedPropertyException u) {
            String known = u.getKnownPropertyIds() == null ? "" : u.getKnownPropertyIds().stream()
                    .map(o -> "`" + o + "`").sorted().collect(Collectors.joining(", "));
            return "unknown field `" + path(u) + "`" + (known.isEmpty() ? "" : ", expected one of " + known);
        }
        if (e instanceof InvalidFormatException f) {
            return "field `" + path(f) + "`: invalid value " + f.getValue() + " (expected " + kind(f.getTargetType()) + ")";
        }
        if (e instanceof MismatchedInputException m && !m.getPath().isEmpty()) {
            return "field `" + path(m) + "`: invalid type: " + given(m.getOriginalMessage()) + ", expected " + kind(m.getTargetType());
        }
        String msg = e.getOriginalMessage();
        int nl = msg == null ? -1 : msg.indexOf('\n');
        return (nl < 0 ? String.valueOf(msg) : msg.substring(0, nl))
                + (e.getLocation() != null ? " at line " + e.getLocation().getLineNr() + " column "
                + e.getLocation().getColumnNr() : "");
    }

    private static String path(JsonMappingException e) {
        StringBuilder b = new StringBuilder();
        for (JsonMappingException.Reference r : e.getPath()) {
            if (r.getFieldName() != null) {
                if (!b.isEmpty()) b.append('.');
                b.append(r.getFieldName());
            } else if (r.getIndex() >= 0) {
                b.append('[').append(r.getIndex()).append(']');
            }
        }
        return b.toString();
    }

    private static String kind(Class<?> t) {
        if (t == null) return "another type";
        if (t == String.class) return "a string";
        if (t == Boolean.class || t == boolean.class) return "a boolean";
        if (t == Integer.class || t == Long.class || t == int.class || t == long.class) return "an integer";
        if (java.util.List.class.isAssignableFrom(t)) return "an array";
        if (Map.class.isAssignableFrom(t) || t.isRecord()) return "an object";
        return t.getSimpleName();
    }

    private static final java.util.regex.Pattern GIVEN = java.util.regex.Pattern.compile(
            "(?:from|coerce) (String|Integer|Floating-point|Boolean|Array|Object|Null|null|Float)");

    /** What the body had, from Jackson's message ("Cannot coerce String value …"). */
    static String given(String message) {
        java.util.regex.Matcher m = GIVEN.matcher(String.valueOf(message));
        if (m.find()) {
            return switch (m.group(1)) {
                case "String" -> "a string";
                case "Integer" -> "an integer";
                case "Floating-point", "Float" -> "a float";
                case "Boolean" -> "a boolean";
                case "Array" -> "an array";
                case "Object" -> "an object";
                default -> "null";
            };
        }
        if (String.valueOf(message).contains("START_ARRAY")) return "an array";
        if (String.valueOf(message).contains("START_OBJECT")) return "an object";
        return "a value of another type";
    }

    /** The error body: {@code {"fault_message": "…"}}. */
    public static byte[] fault(String message) {
        try {
            return MAPPER.writeValueAsBytes(Map.of("fault_message", message));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    public static byte[] write(Object value) {
        try {
            return MAPPER.writeValueAsBytes(value);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
