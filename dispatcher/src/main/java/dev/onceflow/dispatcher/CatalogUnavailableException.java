package dev.onceflow.dispatcher;

/**
 * The workflow catalog failed to answer: a system error, never a reason to dead-letter a record.
 * Thrown out of the topology so that Kafka Streams aborts the transaction and the record is
 * processed again once the catalog answers.
 */
final class CatalogUnavailableException extends RuntimeException {

    CatalogUnavailableException(String message, Throwable cause) {
        super(message + ": " + cause, cause);
    }
}
