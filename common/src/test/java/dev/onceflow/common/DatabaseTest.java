package dev.onceflow.common;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;
import org.postgresql.ds.PGSimpleDataSource;

class DatabaseTest {

    private static final String URL = "jdbc:postgresql://localhost:5432/app";

    @Test
    void withoutDbSchemaTheSearchPathIsLeftAlone() {
        PGSimpleDataSource ds = (PGSimpleDataSource) Database.dataSource(OnceflowConfig.of(Map.of("db.url", URL)));
        assertThat(ds.getCurrentSchema()).isNull();
    }

    @Test
    void dbSchemaIsSearchedFirstThenPublic() {
        PGSimpleDataSource ds = (PGSimpleDataSource) Database.dataSource(OnceflowConfig.of(Map.of("db.url", URL, "db.schema", "onceflow")));
        assertThat(ds.getCurrentSchema()).isEqualTo("onceflow,public");
        assertThat(Database.searchPath("public")).isEqualTo("public");
    }

    @Test
    void aUrlThatSetsCurrentSchemaTooIsRefusedNamingBoth() {
        assertThatThrownBy(() -> Database.dataSource(OnceflowConfig.of(Map.of("db.url", URL + "?currentSchema=other",
                "db.schema", "onceflow")))).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("currentSchema=other").hasMessageContaining("db.schema is onceflow");
        assertThat(((PGSimpleDataSource) Database.dataSource(URL + "?currentSchema=other", "u", "")).getCurrentSchema())
                .as("without db.schema the URL's own setting stands").isEqualTo("other");
    }
}
