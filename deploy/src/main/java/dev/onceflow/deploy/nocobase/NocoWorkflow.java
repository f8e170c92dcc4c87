package dev.onceflow.deploy.nocobase;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import java.util.List;

/**
 * One NocoBase workflow as NocoBase stores it: a row of its {@code workflows} table (or an item of
 * {@code workflows:list?appends=nodes}) with its rows of {@code flow_nodes}. Only the columns the
 * import reads. {@code id} is NocoBase's row id (a snowflake), {@code key} the id shared by all
 * versions (revisions) of one workflow; {@code current} marks the version NocoBase runs.
 */
public record NocoWorkflow(long id, String key, String title, String type, JsonNode config, boolean enabled,
                           boolean current, boolean sync, List<NocoNode> nodes) {

    public NocoWorkflow {
        config = config == null || config.isNull() ? JsonNodeFactory.instance.objectNode() : config;
        nodes = nodes == null ? List.of() : List.copyOf(nodes);
    }

    /**
     * One row of {@code flow_nodes}: a node of a doubly linked list. {@code upstreamId} is the
     * previous node, or for the first node of a branch the node owning the branch, with
     * {@code branchIndex} naming the branch (condition: 1 true, 0 false; parallel: 0, 1, …; loop:
     * 0); {@code downstreamId} is the next node after this one (and after its branches).
     */
    public record NocoNode(long id, String key, String title, String type, JsonNode config, Long upstreamId,
                           Integer branchIndex, Long downstreamId) {
        public NocoNode {
            config = config == null || config.isNull() ? JsonNodeFactory.instance.objectNode() : config;
        }

        /** How a report names the node: its title, key and type. */
        public String describe() {
            return "'" + (title == null || title.isBlank() ? key : title) + "' (key " + key + ", type " + type + ")";
        }
    }

    /** How a report names the workflow. */
    public String describe() {
        return "'" + title + "' (key " + key + ", id " + id + ")";
    }
}
