import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * Acknowledges one cdk-nag finding on a construct and its children, with the reason a reviewer
 * reads. cdk-nag 3 reads CDK's own acknowledgements (`Validations.of(...).acknowledge`), so this
 * library needs no runtime dependency on cdk-nag. A finding of a rule that reports several
 * (AwsSolutions-IAM5) is named `Rule[Finding]`, e.g. `AwsSolutions-IAM5[Resource::<arn>]`, and an
 * acknowledgement covers that finding only.
 */
export function acknowledgeNagFinding(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}

/**
 * A resource as cdk-nag names it in an IAM5 finding: resolved in the stack, `Fn::Join` joined, a
 * `Ref` as `<Id>` and a `Fn::GetAtt` as `<Id.Attribute>`. Logical ids and the stack's region and
 * account are fixed when the construct is built, so the name can be computed here.
 */
export function nagResourceName(scope: IConstruct, value: string): string {
  return flatten(Stack.of(scope).resolve(value));
}

function flatten(node: unknown): string {
  if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/\}/g, '>');
  if (typeof node !== 'object' || node === null) return JSON.stringify(node);
  const fields = node as Record<string, unknown>;
  const join = fields['Fn::Join'];
  if (Array.isArray(join) && typeof join[0] === 'string' && Array.isArray(join[1])) {
    return join[1].map(flatten).join(join[0]);
  }
  const getAtt = fields['Fn::GetAtt'];
  if (Array.isArray(getAtt)) return `<${flatten(getAtt[0])}.${flatten(getAtt[1])}>`;
  if (fields.Ref !== undefined) return `<${flatten(fields.Ref)}>`;
  return JSON.stringify(node);
}
