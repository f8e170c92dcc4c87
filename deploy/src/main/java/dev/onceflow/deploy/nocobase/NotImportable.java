package dev.onceflow.deploy.nocobase;

/** Why a NocoBase workflow cannot be imported: the message names the node, field, expression or operator. */
final class NotImportable extends RuntimeException {
    NotImportable(String reason) {
        super(reason, null, false, false);
    }
}
