import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';

export interface AlarmTopicProps {
  /**
   * An email address to subscribe; AWS sends it a confirmation link first.
   * @default - no subscription
   */
  readonly email?: string;
}

/**
 * An SNS topic that CloudWatch alarms can publish to, encrypted and TLS only.
 *
 * The topic is encrypted with a customer managed KMS key rather than the AWS managed `alias/aws/sns`:
 * CloudWatch calls KMS itself when it publishes an alarm, and the AWS managed key's policy does not
 * let it, so notifications to such a topic fail silently (visible only in the alarm's history). The
 * key policy grants the `cloudwatch.amazonaws.com` principal just `kms:Decrypt` and
 * `kms:GenerateDataKey*`, and the topic policy lets CloudWatch publish only for alarms of this
 * account and region; `enforceSSL` adds the deny of unencrypted transport.
 *
 * @example
 * const alarms = new AlarmTopic(this, 'AlarmTopic', { email: 'ops@example.com' });
 * new DynamoDbKinesisScanner(this, 'Scanner', { table, alarmTopic: alarms.topic });
 */
export class AlarmTopic extends Construct {
  readonly topic: sns.Topic;
  readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: AlarmTopicProps = {}) {
    super(scope, id);
    const stack = Stack.of(this);
    this.key = new kms.Key(this, 'Key', {
      description: 'dynamodb-kinesis-scanner: encrypts the alarm topic; CloudWatch uses it to publish alarms',
      enableKeyRotation: true,
      // The key protects notifications in flight only: nothing stays encrypted with it once the
      // topic is gone, so it is scheduled for deletion with the stack, after the shortest wait.
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToUseTheKey',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        // In a key policy, `*` means this key.
        resources: ['*'],
      }),
    );
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'dynamodb-kinesis-scanner alarms',
      masterKey: this.key,
      enforceSSL: true,
    });
    // With a topic policy in place, SNS's default policy (which lets the account's services publish)
    // no longer applies: CloudWatch needs its own statement.
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: {
          ArnLike: {
            'aws:SourceArn': `arn:${stack.partition}:cloudwatch:${stack.region}:${stack.account}:alarm:*`,
          },
        },
      }),
    );
    if (props.email !== undefined) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(props.email));
    }
  }
}
